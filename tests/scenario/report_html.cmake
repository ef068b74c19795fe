# The report as people and browsers read it: the HTML loaded in headless Chromium (skips
# without it; scripts/install-deps --test installs it), and the JSON keys every report has.
# The page as a person sees it (issue 25 item 4): the histograms' axes, the bands' colours
# and legend with the normalize line, the shards and classes of a -f tar run, screenshots at
# 1280 and 420 px with nothing wider than the window.
foreach(c html_dom json_keys html_axes html_bands html_shards html_screens)
  ppx_sh_test(NAME report.${c} SCRIPT ${CMAKE_CURRENT_LIST_DIR}/py.sh
              ARGS ${CMAKE_CURRENT_LIST_DIR}/test_report_html.py ${c} LABELS scenario TIMEOUT 300)
endforeach()
