# Install rules for everything a host install needs besides the binary and the TLS compat
# library (exporter/CMakeLists.txt installs those), and the Debian package (CPack DEB).
#
# Build the package with one command (it configures a Release tree with prefix /usr):
#   scripts/build-deb.sh                 -> build-deb/sockstate-exporter_<version>-1_<arch>.deb
#
# Layout with prefix /usr (configuration in /etc for that prefix, else in <prefix>/etc):
#   /usr/bin/sockstate_exporter
#   /usr/lib/sockstate_exporter/libsockstate_ssl_compat.so
#   /usr/lib/sockstate_exporter/libsockstate_crypto_compat.so
#   /etc/sockstate_exporter/sockstate.yml                     (conffile)
#   /etc/default/sockstate_exporter                           (conffile: the service's flags)
#   /usr/lib/systemd/system/sockstate_exporter.service
#   /usr/share/sockstate_exporter/systemd/{bpf,all-namespaces,conntrack}.conf   (drop-ins)
#   /usr/share/sockstate_exporter/{dashboards,prometheus,alertmanager,examples}/
#   /usr/share/man/man1/sockstate_exporter.1.gz               (OPTIONS generated from --help)
#   /usr/share/doc/sockstate-exporter/{copyright,changelog.Debian.gz}   (packaging/debian/)
#   /usr/share/lintian/overrides/sockstate-exporter          (packaging/debian/lintian-overrides)
include(GNUInstallDirs)

set(SOCKSTATE_PKG_DIR ${CMAKE_SOURCE_DIR}/packaging)
set(SOCKSTATE_SHARE_DIR ${CMAKE_INSTALL_DATADIR}/sockstate_exporter)

# Man page, generated from the binary's own --help.
set(SOCKSTATE_MAN_PAGE ${CMAKE_BINARY_DIR}/packaging/sockstate_exporter.1.gz)
add_custom_command(OUTPUT ${SOCKSTATE_MAN_PAGE}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/packaging
  COMMAND ${CMAKE_COMMAND} -DEXE=$<TARGET_FILE:sockstate_exporter>
    -DTEMPLATE=${SOCKSTATE_PKG_DIR}/man/sockstate_exporter.1.in -DOUT=${SOCKSTATE_MAN_PAGE}
    -DPROJECT_VERSION=${PROJECT_VERSION} -P ${CMAKE_SOURCE_DIR}/cmake/manpage.cmake
  DEPENDS sockstate_exporter ${SOCKSTATE_PKG_DIR}/man/sockstate_exporter.1.in
    ${CMAKE_SOURCE_DIR}/cmake/manpage.cmake
  COMMENT "Generating the man page from sockstate_exporter --help" VERBATIM)
add_custom_target(sockstate_manpage ALL DEPENDS ${SOCKSTATE_MAN_PAGE})
install(FILES ${SOCKSTATE_MAN_PAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# The package's copyright (machine-readable, DEP-5) and Debian changelog, in the doc directory
# named after the package. The changelog's newest entry must be this version: bump both together.
set(SOCKSTATE_DEB_NAME sockstate-exporter)  # Debian package names take no '_'
set(SOCKSTATE_DEB_RELEASE 1)
file(STRINGS ${SOCKSTATE_PKG_DIR}/debian/changelog _changelog_top LIMIT_COUNT 1)
set(_changelog_want "${SOCKSTATE_DEB_NAME} (${PROJECT_VERSION}-${SOCKSTATE_DEB_RELEASE}) ")
string(FIND "${_changelog_top}" "${_changelog_want}" _changelog_at)
if(NOT _changelog_at EQUAL 0)
  message(FATAL_ERROR "packaging/debian/changelog starts with '${_changelog_top}', want an entry "
    "for ${PROJECT_VERSION}-${SOCKSTATE_DEB_RELEASE} first (CMakeLists.txt project VERSION)")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${SOCKSTATE_PKG_DIR}/debian/changelog)
set(SOCKSTATE_CHANGELOG_GZ ${CMAKE_BINARY_DIR}/packaging/changelog.Debian.gz)
add_custom_command(OUTPUT ${SOCKSTATE_CHANGELOG_GZ}
  COMMAND ${CMAKE_COMMAND} -E copy ${SOCKSTATE_PKG_DIR}/debian/changelog
    ${CMAKE_BINARY_DIR}/packaging/changelog.Debian
  COMMAND gzip -9nf ${CMAKE_BINARY_DIR}/packaging/changelog.Debian  # -n: reproducible
  DEPENDS ${SOCKSTATE_PKG_DIR}/debian/changelog
  COMMENT "Compressing the Debian changelog" VERBATIM)
add_custom_target(sockstate_changelog ALL DEPENDS ${SOCKSTATE_CHANGELOG_GZ})
set(SOCKSTATE_DOC_DIR ${CMAKE_INSTALL_DATADIR}/doc/${SOCKSTATE_DEB_NAME})
install(FILES ${SOCKSTATE_PKG_DIR}/debian/copyright ${SOCKSTATE_CHANGELOG_GZ}
  DESTINATION ${SOCKSTATE_DOC_DIR})
# The lintian findings that are deliberate, each with its reason (the package tier runs lintian).
install(FILES ${SOCKSTATE_PKG_DIR}/debian/lintian-overrides
  DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME ${SOCKSTATE_DEB_NAME})

# Configuration and the service's flags: /etc for prefix /usr (the package), else <prefix>/etc
# (relative, so `cmake --install --prefix DIR` keeps them under DIR).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(SOCKSTATE_SYSCONF_DIR /etc)
else()
  set(SOCKSTATE_SYSCONF_DIR ${CMAKE_INSTALL_SYSCONFDIR})
endif()
install(FILES ${CMAKE_SOURCE_DIR}/config/sockstate.yml
  DESTINATION ${SOCKSTATE_SYSCONF_DIR}/sockstate_exporter)
install(FILES ${SOCKSTATE_PKG_DIR}/default/sockstate_exporter
  DESTINATION ${SOCKSTATE_SYSCONF_DIR}/default)

# systemd: the unit and the drop-ins for the privileged modes.
# (lib, not CMAKE_INSTALL_LIBDIR: that is lib/<multiarch> on Debian; units live in lib/systemd.)
install(FILES ${SOCKSTATE_PKG_DIR}/systemd/sockstate_exporter.service
  DESTINATION lib/systemd/system)
install(FILES ${SOCKSTATE_PKG_DIR}/systemd/bpf.conf ${SOCKSTATE_PKG_DIR}/systemd/all-namespaces.conf
  ${SOCKSTATE_PKG_DIR}/systemd/conntrack.conf ${SOCKSTATE_PKG_DIR}/systemd/tracker.conf
  DESTINATION ${SOCKSTATE_SHARE_DIR}/systemd)

# Dashboards, alerting rules, scrape and Alertmanager examples, example configurations.
install(DIRECTORY ${CMAKE_SOURCE_DIR}/dashboards/ DESTINATION ${SOCKSTATE_SHARE_DIR}/dashboards)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/config/prometheus/ DESTINATION ${SOCKSTATE_SHARE_DIR}/prometheus)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/config/alertmanager/ DESTINATION ${SOCKSTATE_SHARE_DIR}/alertmanager)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/config/examples/ DESTINATION ${SOCKSTATE_SHARE_DIR}/examples)

# ---------------------------------------------------------------------------------------------
# CPack DEB. Dependencies come from dpkg-shlibdeps on the installed ELF files (the real
# shared-library needs); named by hand only what the scripts and the unit run: passwd (useradd,
# userdel in the maintainer scripts) and procps (/bin/kill, the unit's ExecReload).
# ---------------------------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ${SOCKSTATE_DEB_NAME})
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "sockstate_exporter")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "Prometheus exporter for TCP socket states and ephemeral port occupancy")
# The extended description (CPack puts the summary above it).
# Lines of at most 80 characters (Debian policy 5.6.13; lintian checks it).
set(CPACK_PACKAGE_DESCRIPTION "Exports TCP socket states, per-destination ephemeral port occupancy,
the port budget of each network namespace and the kernel settings and
counters behind them, read with netlink sock_diag and /proc. Ships a hardened
systemd unit (own user, no capabilities), a Grafana dashboard and Prometheus
alerting rules.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${SOCKSTATE_DEB_RELEASE})
# The project's placeholder address (example.org is reserved, RFC 2606): replace it with a real
# one when the package is published. Also the changelog's signature line.
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "sockstate_exporter developers <sockstate-exporter@example.org>")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd, procps")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${SOCKSTATE_PKG_DIR}/debian/conffiles
  ${SOCKSTATE_PKG_DIR}/debian/postinst ${SOCKSTATE_PKG_DIR}/debian/prerm
  ${SOCKSTATE_PKG_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# The package's paths (/etc, /usr/lib/systemd) are only right for prefix /usr; refuse others.
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_BINARY_DIR}/packaging/cpack-check.cmake)
file(WRITE ${CPACK_PROJECT_CONFIG_FILE}
  "if(NOT \"${CMAKE_INSTALL_PREFIX}\" STREQUAL \"/usr\")\n"
  "  message(FATAL_ERROR \"the Debian package needs -DCMAKE_INSTALL_PREFIX=/usr \"\n"
  "    \"(this tree has ${CMAKE_INSTALL_PREFIX}); use scripts/build-deb.sh\")\n"
  "endif()\n")
include(CPack)
