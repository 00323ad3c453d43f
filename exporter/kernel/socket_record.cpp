#include "kernel/socket_record.h"

namespace sockstate {

std::string_view TcpStateName(uint8_t state) {
  switch (state) {
    case kTcpEstablished:
      return "established";
    case kTcpSynSent:
      return "syn_sent";
    case kTcpSynRecv:
      return "syn_recv";
    case kTcpFinWait1:
      return "fin_wait1";
    case kTcpFinWait2:
      return "fin_wait2";
    case kTcpTimeWait:
      return "time_wait";
    case kTcpClose:
      return "close";
    case kTcpCloseWait:
      return "close_wait";
    case kTcpLastAck:
      return "last_ack";
    case kTcpListen:
      return "listen";
    case kTcpClosing:
      return "closing";
    case kTcpBoundInactive:
      return "bound_inactive";
    default:
      return "";
  }
}

}  // namespace sockstate
