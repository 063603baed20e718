# The monitoring assets, checked by monitoring/check.sh against the metric
# catalogue: the Grafana dashboard, the Prometheus alert rules and their unit
# tests, docs/monitoring.md. Needs node and promtool (scripts/install-deps.sh);
# a missing tool fails the test, it is never skipped. monitoring.dashboard_types
# also needs the pinned npm tools of tools/grafana (scripts/npm-tools.sh
# installs them into .cache/tools/grafana on first use, from the registry).
set(BATON_MONITORING_CHECK ${CMAKE_SOURCE_DIR}/monitoring/check.sh)

# One test per step; see the header of monitoring/check.sh for what each checks.
foreach(pair "lint;lint" "promql;promql" "alerts_test;rules-test" "dashboard_types;types")
  list(GET pair 0 name)
  list(GET pair 1 step)
  add_test(NAME monitoring.${name} COMMAND bash ${BATON_MONITORING_CHECK} ${step})
  set_tests_properties(monitoring.${name} PROPERTIES LABELS unit TIMEOUT 120)
endforeach()

# Each selftest breaks a scratch copy of the assets one way and passes only if
# the check that should catch it fails with its message: proof the checks can
# fail. Cases are the selftest_* functions of monitoring/check.sh.
foreach(case unknown_metric unknown_label duplicate_panel_id export_form bad_promql
        alert_without_test alert_behaviour undocumented_metric dashboard_type missing_promtool)
  add_test(NAME monitoring.check_rejects_${case}
           COMMAND bash ${BATON_MONITORING_CHECK} selftest ${case})
  set_tests_properties(monitoring.check_rejects_${case} PROPERTIES LABELS unit TIMEOUT 120)
endforeach()

# Both install into the same .cache/tools/grafana: never at once.
set_tests_properties(monitoring.dashboard_types monitoring.check_rejects_dashboard_type
                     PROPERTIES RESOURCE_LOCK baton_npm_tools_grafana TIMEOUT 300)
