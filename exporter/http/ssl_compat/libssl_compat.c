/* libssl compatibility shim for civetweb 1.15 (Debian 12's libcivetweb1) with OpenSSL 3.
 *
 * civetweb loads OpenSSL at run time with dlopen("libssl.so") and looks up
 * SSL_get_peer_certificate, which OpenSSL 3 only has as a macro for
 * SSL_get1_peer_certificate. civetweb 1.15 tolerates the missing symbol and then calls a NULL
 * pointer after every TLS handshake (civetweb issue #1334): the process crashes on the first
 * HTTPS connection.
 *
 * Built with SONAME "libssl.so" and linked against libssl.so.3, and loaded by the exporter
 * (--web.tls-compat-lib) before civetweb starts, this library is what civetweb's
 * dlopen("libssl.so") returns (glibc matches the SONAME of loaded objects), and every other
 * SSL_* symbol civetweb looks up resolves through its dependency on libssl.so.3.
 *
 *   cc -shared -fPIC -O2 -Wl,-soname,libssl.so -o libsockstate_ssl_compat.so \
 *      libssl_compat.c -l:libssl.so.3 -l:libcrypto.so.3
 */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509 *SSL_get_peer_certificate(const SSL *ssl);
X509 *SSL_get_peer_certificate(const SSL *ssl) { return SSL_get1_peer_certificate(ssl); }
