#include "store/backlog.h"

#include <pqxx/pqxx>

namespace baton::scheduler {

namespace {
// Activity tasks stay in baton_tasks until their result is recorded, so the
// backlog counts dispatched ones too; a task waiting for a retry delay is
// not due yet. Orchestration work is the unconsumed, visible inbox.
constexpr const char* kBacklogSql = R"sql(
SELECT namespace, task_queue, 'activity' AS kind, count(*),
       extract(epoch FROM now() - min(visible_at))::float8
  FROM baton_tasks WHERE visible_at <= now()
 GROUP BY namespace, task_queue
UNION ALL
SELECT b.namespace, i.task_queue, 'orchestration', count(*),
       extract(epoch FROM now() - min(b.visible_at))::float8
  FROM baton_inbox b JOIN baton_instances i USING (namespace, instance_id)
 WHERE b.visible_at <= now()
 GROUP BY b.namespace, i.task_queue
)sql";
}  // namespace

Result<std::unique_ptr<BacklogReader>> BacklogReader::open(const std::string& url) {
  try {
    auto conn = std::make_unique<pqxx::connection>(url);
    conn->prepare("backlog", kBacklogSql);
    return std::unique_ptr<BacklogReader>(new BacklogReader(std::move(conn)));
  } catch (const std::exception& e) {
    return unavailable(std::string("backlog reader: ") + e.what());
  }
}

Result<std::vector<BacklogRow>> BacklogReader::read() {
  try {
    pqxx::read_transaction txn(*conn_);
    std::vector<BacklogRow> rows;
    for (const auto& r : txn.exec_prepared("backlog")) {
      rows.push_back(BacklogRow{r[0].as<std::string>(), r[1].as<std::string>(),
                                r[2].as<std::string>(), r[3].as<int64_t>(),
                                std::max(0.0, r[4].as<double>())});
    }
    return rows;
  } catch (const std::exception& e) {
    return unavailable(std::string("backlog query: ") + e.what());
  }
}

}  // namespace baton::scheduler
