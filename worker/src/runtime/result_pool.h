// ResultPool: a fixed set of threads that run jobs and hand each job's
// encoded result to the worker's I/O thread over an inproc PUSH socket (one
// per pool thread; the I/O thread owns the PULL end). No socket is shared
// between threads; the job queue is the only shared memory (guarded by mu).
//
// Hand-off message (in-process only, never on the wire): two frames,
//   [1 byte: MsgType of the result (kActivityResult / kOrchestrationResult)]
//   [encoded result body; EMPTY when the job produced no result]
// A job may also send messages while it runs (activity heartbeats) through
// the Emit it is given: the same two frames with their own type
// (kActivityHeartbeat); they are not results and end nothing.
//
// Wake-ups: a thread is woken only when no woken thread is already on its
// way to the queue, and a woken thread that takes a job wakes the next one
// if jobs remain (one hand-off at a time, as Go's scheduler does with its
// spinning threads). A burst of short jobs is then run by the few threads
// that are awake instead of waking one thread per job (each wake-up is a
// context switch, the largest cost of a short activity on a small machine);
// jobs that block still each get a thread, one wake-up later than the last.
//
// Thread-safety: submit/join/abandon from one thread (the I/O thread).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "baton/protocol.h"

namespace baton::detail {

class ResultPool {
 public:
  // Sends [type][body] to the I/O thread now, from the job's thread.
  using Emit = std::function<void(MsgType type, std::string body)>;
  // Returns the encoded result body (empty: no result to send).
  using Job = std::function<std::string(const Emit& emit)>;

  // Starts `threads` (>= 1) threads whose PUSH sockets connect to `endpoint`
  // in `context` (the PULL end is bound by the caller first).
  ResultPool(std::string name, int threads, std::shared_ptr<zmq::context_t> context,
             std::string endpoint);
  // join() unless abandon() was called.
  ~ResultPool();
  ResultPool(const ResultPool&) = delete;
  ResultPool& operator=(const ResultPool&) = delete;

  // Queues `job`; its output is sent with type frame `result_type`. A job
  // that throws sends an empty body.
  void submit(MsgType result_type, Job job);
  // Runs what is queued, then stops and joins the threads.
  void join();
  // Drops queued jobs and detaches the threads: a thread inside a job ends
  // after it (its result is then dropped). Used when a drain times out, so
  // a stuck activity cannot keep the process from exiting.
  void abandon();

  // Runs `job` on the calling thread as a pool thread does: a job that
  // throws yields an empty body (no result), logged under `name`.
  static std::string run(const Job& job, const Emit& emit, const std::string& name);

 private:
  struct Queued {
    MsgType type = MsgType::kActivityResult;
    Job job;
  };
  // Shared with the threads (shared_ptr: detached threads outlive the pool).
  struct Shared {
    std::shared_ptr<zmq::context_t> context;
    std::string endpoint;
    std::string name;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Queued> jobs;  // guarded by mu
    int sleeping = 0;         // threads waiting on cv; guarded by mu
    int waking = 0;           // notified, not yet back from the wait; guarded by mu
    bool stopping = false;    // guarded by mu
    bool abandoned = false;   // guarded by mu
  };
  static void thread_main(std::shared_ptr<Shared> shared);
  // Wakes a sleeping thread unless one is already on its way. Holds mu.
  static void wake_one_locked(Shared& shared);

  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> threads_;
};

}  // namespace baton::detail
