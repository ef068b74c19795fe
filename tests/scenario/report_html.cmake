# The report as people and browsers read it: the HTML loaded in headless Chromium (skips
# without it; scripts/install-deps --test installs it), and the JSON keys every report has.
foreach(c html_dom json_keys)
  ppx_sh_test(NAME report.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_report_html.py ${c} LABELS unit TIMEOUT 300)
endforeach()
