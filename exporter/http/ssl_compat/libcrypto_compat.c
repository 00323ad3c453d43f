/* libcrypto stand-in for civetweb 1.15 (Debian 12's libcivetweb1): civetweb loads OpenSSL at
 * run time with dlopen("libcrypto.so") too, a name only libssl-dev provides (the unversioned
 * link). Built with SONAME "libcrypto.so" and a dependency on libcrypto.so.3, and loaded by the
 * exporter beside libsockstate_ssl_compat.so, this empty library is what civetweb's
 * dlopen("libcrypto.so") returns (glibc matches the SONAME of loaded objects); every CRYPTO_*
 * and ERR_* symbol civetweb looks up resolves through its dependency on libcrypto.so.3.
 *
 *   cc -shared -fPIC -O2 -Wl,-soname,libcrypto.so -Wl,--no-as-needed \
 *      -o libsockstate_crypto_compat.so libcrypto_compat.c -l:libcrypto.so.3
 */
int sockstate_crypto_compat = 1;
