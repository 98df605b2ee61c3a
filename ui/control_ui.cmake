# The Control UI (docs/CONTROL-UI.md): plain ES modules and CSS, no build step. The `control-ui`
# target copies them to <build>/ui, where the gateway looks by default (<exe>/../ui), and copies a
# file again whenever it changes. Only files the gateway serves are staged (not this one).
# Included from the top-level CMakeLists (not add_subdirectory: <build>/ui must hold the UI only).
set(OC_UI_DIR ${CMAKE_CURRENT_LIST_DIR})
file(GLOB_RECURSE OC_UI_SOURCES CONFIGURE_DEPENDS RELATIVE ${OC_UI_DIR}
     ${OC_UI_DIR}/*.html ${OC_UI_DIR}/*.js ${OC_UI_DIR}/*.css ${OC_UI_DIR}/*.svg ${OC_UI_DIR}/*.png
     ${OC_UI_DIR}/*.ico ${OC_UI_DIR}/*.json)
set(OC_UI_OUTPUTS)
foreach(file ${OC_UI_SOURCES})
  add_custom_command(
    OUTPUT ${CMAKE_BINARY_DIR}/ui/${file}
    COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OC_UI_DIR}/${file} ${CMAKE_BINARY_DIR}/ui/${file}
    DEPENDS ${OC_UI_DIR}/${file}
    COMMENT "Control UI: ${file}"
    VERBATIM)
  list(APPEND OC_UI_OUTPUTS ${CMAKE_BINARY_DIR}/ui/${file})
endforeach()
add_custom_target(control-ui ALL DEPENDS ${OC_UI_OUTPUTS})
