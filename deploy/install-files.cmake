# deploy/install-files.cmake: the install step of the files whose place or text depends on
# the install prefix, evaluated when `cmake --install` runs (CMakeLists.txt sets
# HOOKPIPE_SOURCE_DIR and HOOKPIPE_SYSTEMD_UNITDIR before it):
#   - the systemd units, their ExecStart paths pointed at PREFIX/bin, in the unit dir;
#   - the example config as hookpipe.ini (mode 0640) in /etc/hookpipe for the prefix /usr
#     (as the Debian package), else in PREFIX/etc/hookpipe.
# DESTDIR is honoured like every other install rule (file(INSTALL) adds it itself).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(etc_dir "/etc/hookpipe")
else()
  set(etc_dir "${CMAKE_INSTALL_PREFIX}/etc/hookpipe")
endif()
file(GLOB units "${HOOKPIPE_SOURCE_DIR}/deploy/systemd/*.service")
foreach(unit ${units})
  get_filename_component(name "${unit}" NAME)
  file(READ "${unit}" text)
  string(REPLACE "/usr/bin/" "${CMAKE_INSTALL_PREFIX}/bin/" text "${text}")
  set(out "$ENV{DESTDIR}${HOOKPIPE_SYSTEMD_UNITDIR}/${name}")
  message(STATUS "Installing: ${out}")
  file(WRITE "${out}" "${text}")
  file(CHMOD "${out}" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()
file(INSTALL "${HOOKPIPE_SOURCE_DIR}/deploy/hookpipe.example.ini"
     DESTINATION "${etc_dir}" RENAME hookpipe.ini
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
