#include "test_util.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace sockstate::testing {

bool MakeSockaddr(const std::string& host, uint16_t port, sockaddr_storage* ss, socklen_t* len) {
  std::memset(ss, 0, sizeof(*ss));
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(*v4);
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(*v6);
    return true;
  }
  return false;
}

HttpResponse HttpGet(const std::string& host, int port, const std::string& path,
                     std::chrono::milliseconds timeout, const std::string& method) {
  HttpResponse r;
  sockaddr_storage ss;
  socklen_t len;
  if (port < 0 || port > 65535 || !MakeSockaddr(host, static_cast<uint16_t>(port), &ss, &len)) {
    r.error = "bad address " + host + " port " + std::to_string(port);
    return r;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r.error = std::string("socket: ") + std::strerror(errno);
    return r;
  }
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    r.error = std::string("connect: ") + std::strerror(errno);
    close(fd);
    return r;
  }
  std::string req =
      method + " " + path + " HTTP/1.0\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) {
    r.error = "send failed";
    close(fd);
    return r;
  }
  std::string data;
  char buf[65536];
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      data.append(buf, n);
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      r.error = std::string("recv: ") + std::strerror(errno);
      break;
    }
  }
  close(fd);
  size_t hdr_end = data.find("\r\n\r\n");
  if (hdr_end == std::string::npos) {
    if (r.error.empty()) r.error = "no HTTP header in response";
    return r;
  }
  r.headers = data.substr(0, hdr_end);
  r.body = data.substr(hdr_end + 4);
  if (r.headers.rfind("HTTP/1.", 0) == 0 && r.headers.size() > 12) {
    r.status = std::atoi(r.headers.c_str() + 9);
  }
  return r;
}

Series ParseExposition(const std::string& text) {
  Series out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::string name;
    std::vector<std::pair<std::string, std::string>> labels;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') name += line[i++];
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string k, v;
        while (i < line.size() && line[i] != '=') k += line[i++];
        i += 2;  // ="
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\' && i + 1 < line.size()) {
            char c = line[i + 1];
            v += (c == 'n') ? '\n' : c;
            i += 2;
          } else {
            v += line[i++];
          }
        }
        ++i;  // closing quote
        if (i < line.size() && line[i] == ',') ++i;
        labels.emplace_back(k, v);
      }
      ++i;  // }
    }
    while (i < line.size() && line[i] == ' ') ++i;
    std::string value = line.substr(i);
    size_t sp = value.find(' ');
    if (sp != std::string::npos) value = value.substr(0, sp);  // drop timestamp
    std::sort(labels.begin(), labels.end());
    std::string key = name;
    if (!labels.empty()) {
      key += '{';
      for (size_t j = 0; j < labels.size(); ++j) {
        if (j) key += ',';
        key += labels[j].first + "=\"" + labels[j].second + "\"";
      }
      key += '}';
    }
    double d;
    if (value == "+Inf")
      d = INFINITY;
    else if (value == "-Inf")
      d = -INFINITY;
    else if (value == "NaN")
      d = NAN;
    else
      d = std::strtod(value.c_str(), nullptr);
    out[key] = d;
  }
  return out;
}

double Get(const Series& s, const std::string& name,
           const std::vector<std::pair<std::string, std::string>>& labels) {
  auto sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  std::string key = name;
  if (!sorted.empty()) {
    key += '{';
    for (size_t j = 0; j < sorted.size(); ++j) {
      if (j) key += ',';
      key += sorted[j].first + "=\"" + sorted[j].second + "\"";
    }
    key += '}';
  }
  auto it = s.find(key);
  return it == s.end() ? NAN : it->second;
}

bool HasMetric(const Series& s, const std::string& name) {
  auto it = s.lower_bound(name);
  if (it == s.end()) return false;
  return it->first == name || it->first.rfind(name + "{", 0) == 0;
}

std::array<uint8_t, 16> Addr(const std::string& text) {
  std::array<uint8_t, 16> out{};
  const int af = text.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (inet_pton(af, text.c_str(), out.data()) != 1) out.fill(0);
  return out;
}

std::string BcryptHash(const std::string& password, int cost) {
  char salt[64];
  if (crypt_gensalt_rn("$2y$", cost, nullptr, 0, salt, sizeof(salt)) == nullptr) {
    throw std::runtime_error("crypt_gensalt_rn failed");
  }
  crypt_data data{};
  const char* hash = crypt_rn(password.c_str(), salt, &data, sizeof(data));
  if (hash == nullptr) throw std::runtime_error("crypt_rn failed");
  return hash;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool ChildProcess::Start(const std::vector<std::string>& argv, const std::string& log_path) {
  pid_ = fork();
  if (pid_ < 0) return false;
  if (pid_ == 0) {
    if (!log_path.empty()) {
      int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
      }
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return true;
}

int ChildProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = -1;
  for (int i = 0; i < 500; ++i) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t l = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

bool WaitForHttp(const std::string& host, int port, const std::string& path,
                 std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (HttpGet(host, port, path, std::chrono::milliseconds(1000)).status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace sockstate::testing
