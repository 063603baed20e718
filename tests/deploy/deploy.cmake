# The Helm chart (helm/baton) and the container images (docker/), checked
# offline by tests/deploy/check.mjs: helm lint and template with every values
# file of tests/deploy/values, the rendered objects against the Kubernetes,
# prometheus-operator and KEDA models and against each other and the binaries'
# sources, the Dockerfile against the CMake targets, the chart version against
# the project version. Needs node, npm, tar and unzip (scripts/install-deps.sh).
# deploy.tools fetches Helm (scripts/fetch-helm.sh) and the pinned npm tools of
# tools/deploy (scripts/npm-tools.sh) into .cache/tools on first use.
set(BATON_DEPLOY_CHECK ${CMAKE_SOURCE_DIR}/tests/deploy/check.mjs)

add_test(NAME deploy.tools
         COMMAND bash -c "scripts/fetch-helm.sh && scripts/npm-tools.sh deploy"
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(deploy.tools PROPERTIES
  LABELS deploy TIMEOUT 300 FIXTURES_SETUP baton_deploy_tools)

# One test per step; see the header of tests/deploy/check.mjs.
foreach(pair "lint;lint" "invalid_values;invalid" "validate;validate" "cross_check;cross"
        "notes;notes" "monitoring_files;monitoring" "chart_version;version" "dockerfile;docker")
  list(GET pair 0 name)
  list(GET pair 1 step)
  add_test(NAME deploy.${name} COMMAND node ${BATON_DEPLOY_CHECK} ${step})
  set_tests_properties(deploy.${name} PROPERTIES
    LABELS deploy TIMEOUT 300 FIXTURES_REQUIRED baton_deploy_tools)
endforeach()

# The runtime stages install what docker/runtime-packages.sh finds for the
# binaries built here.
add_test(NAME deploy.runtime_packages COMMAND node ${BATON_DEPLOY_CHECK} packages ${CMAKE_BINARY_DIR})
set_tests_properties(deploy.runtime_packages PROPERTIES
  LABELS deploy TIMEOUT 120 FIXTURES_REQUIRED baton_deploy_tools)

# Each selftest breaks one thing (a rendered object, the Dockerfile, the chart
# version, the chart's link to monitoring/) and passes only if the check that
# should catch it reports it: proof the checks can fail.
set(BATON_DEPLOY_SELFTESTS
  service_target_port dial_wrong_port dial_unknown_host unknown_env env_of_another_part
  flag_overrides_env unknown_flag probe_path metrics_port migrate_command migrate_not_hook
  drain_exceeds_grace writable_root root_user network_policy_blocks_workers keda_wrong_queue
  servicemonitor_job alerts_edited dashboard_edited
  file_env_not_mounted file_env_not_in_volume secret_not_from_values worker_without_curve
  broker_key_mismatch test_without_api_key
  notes_unknown_command notes_wrong_port notes_without_credentials
  version_mismatch docker_root_user
  docker_unknown_binary docker_wrong_entrypoint alerts_copied)
foreach(case ${BATON_DEPLOY_SELFTESTS})
  add_test(NAME deploy.check_rejects_${case} COMMAND node ${BATON_DEPLOY_CHECK} selftest ${case})
  set_tests_properties(deploy.check_rejects_${case} PROPERTIES
    LABELS deploy TIMEOUT 120 FIXTURES_REQUIRED baton_deploy_tools)
endforeach()
add_test(NAME deploy.selftests_registered
         COMMAND node ${BATON_DEPLOY_CHECK} selftests-registered ${BATON_DEPLOY_SELFTESTS})
set_tests_properties(deploy.selftests_registered PROPERTIES LABELS deploy TIMEOUT 60)
