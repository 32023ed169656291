#include "core/run.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <filesystem>
#include <memory>

#include "core/base/fs.h"
#include "core/base/journal.h"
#include "core/base/log.h"
#include "core/cgroup/cgroup.h"
#include "core/egress/egress_runtime.h"
#include "core/security/seccomp_trace.h"
#include "core/spec/hardening_validate.h"
#include "core/sandbox/etc_files.h"
#include "core/sandbox/launch.h"
#include "core/sandbox/network.h"
#include "core/sandbox/plan.h"
#include "core/sandbox/supervisor.h"
#include "core/sandbox/workspace.h"
#include "core/state/state_dir.h"

namespace nucleus {
namespace {

constexpr log::Logger kLog("run");
constexpr int kNucleusFailure = 125;
constexpr const char* kStageKind = "workspace-stage";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t namespace_flags(const ValidSpec& spec) {
  uint64_t flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
  if (spec.network != NetworkMode::kHost) flags |= CLONE_NEWNET;
  if (spec.rootless) flags |= CLONE_NEWUSER;  // remapped ids enter theirs late (child.cc)
  if (spec.time_namespace) flags |= CLONE_NEWTIME;
  // CLONE_NEWCGROUP is done by the child after the parent moved it into its cgroup.
  return flags;
}

// One sandbox's life. Every resource it acquires is released by teardown(), in reverse order,
// whatever step failed.
class SandboxRun {
 public:
  explicit SandboxRun(const ValidSpec& spec) : spec_(spec) {}
  ~SandboxRun() { teardown(); }

  // Runs the sandbox to its end and tears everything down; returns the exit status.
  int execute() {
    int status = execute_steps();
    mark("workload exited");
    teardown();
    mark("teardown");
    if (sync_failed_) status = kNucleusFailure;
    return status;
  }

 private:
  // --log-level debug: how long each phase took, to find where start-up time goes.
  void mark(const char* phase) {
    auto now = std::chrono::steady_clock::now();
    kLog.debug(std::string(phase) + ": " +
               std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now - last_mark_).count()) +
               " us");
    last_mark_ = now;
  }

  int execute_steps() {
    if (auto r = prepare(); !r) return report_failure(r.error());
    mark("prepare (state dir, plan, seccomp, cgroup)");
    if (auto r = start(); !r) return report_failure(r.error());
    mark("start (clone, network, child setup until exec)");
    if (failure_) {
      log::write(log::Level::kError, "", describe(*failure_));
      return failure_->exit_status;
    }
    return supervise();
  }

  int report_failure(const Error& e) {
    log::write(log::Level::kError, "", e.message());
    return kNucleusFailure;
  }

  Result<void> prepare() {
    ASSIGN_OR_RETURN(StateDir dir, StateDir::create(spec_.state_root, spec_.id));
    state_dir_ = std::move(dir);
    ASSIGN_OR_RETURN(journal_, Journal::open(state_dir_->journal_path()));
    ASSIGN_OR_RETURN(state_.supervisor, identify(getpid()));
    state_.id = spec_.id;
    state_.status = "creating";
    state_.created_ms = now_ms();
    state_.command = spec_.argv;
    state_.network = spec_.network == NetworkMode::kBridge ? "bridge"
                     : spec_.network == NetworkMode::kHost ? "host"
                                                           : "none";
    TRY(state_dir_->save(state_));

    PlanPaths paths;
    // One mount point serves every sandbox: each child mounts its root there inside its own
    // (private) mount namespace, so the host never sees it and nothing is made per run.
    paths.new_root = spec_.state_root + "/mnt";
    paths.generated_etc = state_dir_->file("etc");
    TRY(fs::make_dirs(paths.new_root, 0755));
    if (spec_.remap_ids) {
      IdMap map = remapped_id_map();
      paths.id_offset_uid = map.uid_outside;
      paths.id_offset_gid = map.gid_outside;
    }
    if (spec_.workspace) {
      paths.workspace = *spec_.workspace;
      if (spec_.workspace_mode == WorkspaceMode::kCopyInOut) {
        stage_ = state_dir_->file("workspace");
        TRY(journal_.record_create(kStageKind, *stage_, {{"path", *stage_}, {"host", *spec_.workspace}}));
        TRY(workspace::stage_copy(*spec_.workspace, *stage_));
        paths.workspace = *stage_;
      }
    }
    // --rootfs: empty now, filled once the network is known; the child binds them meanwhile.
    if (spec_.rootfs) TRY(create_etc_files(paths.generated_etc));
    TRY(build_child_plan(spec_, paths, plan_));
    TRY(create_cgroup());
    if (cgroup_)
      for (const auto& file : cgroup_->self_join_files())
        plan_.cgroup_join_files.push_back(plan_.keep(file));
    // v2: the parent moves the child after the clone; until then nothing the child does may be
    // charged elsewhere, so it waits for the go before building its root.
    if (cgroup_ && cgroup_->version() == cgroup::Version::kV2) plan_.setup_after_release = true;
    return {};
  }

  // The parent's side of the start, between clone and the go: ids, cgroup, network, egress and
  // the generated /etc. Returns the go message.
  Result<std::string> set_up_around_child() {
    ASSIGN_OR_RETURN(state_.workload, identify(child_->pid));
    if (spec_.rootless) TRY(write_id_maps(child_->pid, rootless_id_map()));
    if (cgroup_) TRY(place_in_cgroup());

    std::optional<net::NetAttachment> attachment;
    if (spec_.network == NetworkMode::kBridge) {
      network_ = std::make_unique<SandboxNetwork>();
      ASSIGN_OR_RETURN(attachment, network_->attach(spec_, child_->pid, journal_));
      // Egress rules go in before the workload runs: it never sees an open network.
      ASSIGN_OR_RETURN(egress_, start_egress(spec_, io_, network_->netns_fd(), *attachment, journal_));
      state_.details["network"] = describe_attachment(*attachment);
    }
    // Generated once, now that the addresses and resolvers are known (etc_files.h).
    EtcFiles etc = generate_etc_files(spec_, attachment ? &*attachment : nullptr);
    if (!spec_.rootfs) return release_message(etc);
    TRY(write_etc_files(state_dir_->file("etc"), etc));
    return std::string(1, kGoByte);
  }

  // Writes the remapped id maps when the child asks for them (see ChildPlan).
  std::function<Result<void>()> id_map_writer() {
    return [this]() -> Result<void> { return write_id_maps(child_->pid, remapped_id_map()); };
  }

  // v2: the parent moves the child. v1: the child moves itself (see Cgroup::self_join_files);
  // with remapped ids it needs to own the files it writes.
  Result<void> place_in_cgroup() {
    if (plan_.cgroup_join_files.empty()) {
      auto added = cgroup_->add_process(child_->pid);
      if (!added && spec_.cgroup_required) return std::unexpected(added.error());
      if (!added) kLog.warn("running without resource limits: " + added.error().message());
      return {};
    }
    return {};
  }

  // Limits are best effort in agent mode (a warning) and fatal in the strict modes.
  Result<void> create_cgroup() {
#ifdef NUCLEUS_BENCH_UNHARDENED
    return {};  // benchmark build only (see CMakeLists.txt)
#endif
    auto made = cgroup::Cgroup::create(spec_.id, spec_.limits, {}, &journal_);
    if (made) {
      cgroup_ = std::move(*made);
      return {};
    }
    if (spec_.cgroup_required)
      return fail("cgroup", made.error().message() + " (fatal in " +
                                std::string(mode_name(spec_.mode)) + " mode)");
    kLog.warn("running without resource limits: " + made.error().message());
    return {};
  }

  Result<void> start() {
    block_forwarded_signals();
    ASSIGN_OR_RETURN(child_, launch(plan_, namespace_flags(spec_)));
    mark("  clone3");
    auto go = set_up_around_child();
    if (!go) {
      // The child builds its root meanwhile. If it failed there, its report is the cause the
      // user needs; our own error is then only a consequence (its pid or netns is gone).
      if (auto early = take_reported_failure(*child_)) {
        failure_ = std::move(early);
        return {};
      }
      return std::unexpected(go.error());
    }
    mark("  network");
    // A child that failed while building its root has exited after reporting why: then the
    // release fails with EPIPE and wait_for_exec() below reads the report.
    if (auto released = release(*child_, *go);
        !released && released.error().code != EPIPE && released.error().code != ECONNRESET)
      return std::unexpected(released.error());
    if (spec_.seccomp.mode == security::SeccompMode::kTrace) {
      // From the moment the filter is in, every syscall of the child waits for our answer, the
      // exec included: serve the listener while waiting for the exec result.
      ASSIGN_OR_RETURN(tracer_, security::SeccompTracer::attach(child_->pidfd.get(), child_->pid,
                                                                std::chrono::seconds(10)));
      ASSIGN_OR_RETURN(failure_, wait_for_exec_traced());
    } else {
      ASSIGN_OR_RETURN(failure_, wait_for_exec(*child_, id_map_writer()));
    }
    if (failure_) return {};
    state_.status = "running";
    TRY(state_dir_->save(state_));
    if (egress_) {
      // Egress counters refresh state.json from the supervisor loop (once a second, on change).
      egress_->set_state_sink([this](const nlohmann::json& counters) {
        state_.details["egress"] = counters;
        if (auto r = state_dir_->save(state_); !r) kLog.warn(r.error().message());
      });
    }
    return {};
  }

  Result<std::optional<ChildFailure>> wait_for_exec_traced() {
    for (;;) {
      struct pollfd fds[2] = {{child_->sync.get(), POLLIN, 0}, {tracer_->fd(), POLLIN, 0}};
      if (poll(fds, tracer_->done() ? 1 : 2, -1) < 0) {
        if (errno == EINTR) continue;
        return errno_error("poll");
      }
      if (fds[1].revents & POLLIN) TRY(tracer_->handle_one());
      if (fds[0].revents & (POLLIN | POLLHUP)) return wait_for_exec(*child_, id_map_writer());
    }
  }

  void serve_tracer(asio::posix::stream_descriptor& fd) {
    fd.async_wait(asio::posix::stream_descriptor::wait_read, [this, &fd](std::error_code ec) {
      if (ec) return;
      while (true) {
        auto handled = tracer_->handle_one();
        if (!handled || !*handled) break;
      }
      if (!tracer_->done()) serve_tracer(fd);
    });
  }

  // v1 has no memory.oom.group: when the kernel OOM-kills one process, kill the rest so the
  // outcome is the same as on v2 (the whole sandbox goes).
  void watch_oom(asio::steady_timer& timer) {
    timer.expires_after(std::chrono::milliseconds(200));
    timer.async_wait([this, &timer](std::error_code ec) {
      if (ec) return;
      auto oom = cgroup_->oom_killed();
      if (oom && *oom) {
        (void)cgroup_->kill_all();
        return;
      }
      watch_oom(timer);
    });
  }

  int supervise() {
    Supervisor supervisor(io_, std::move(child_->pidfd), std::chrono::seconds(spec_.stop_timeout));
    reaped_ = true;  // the supervisor owns the pidfd now and reaps the child
    std::optional<asio::posix::stream_descriptor> tracer_fd;
    if (tracer_) {
      tracer_fd.emplace(io_, ::dup(tracer_->fd()));
      serve_tracer(*tracer_fd);
    }
    asio::steady_timer oom_timer(io_);
    if (cgroup_ && cgroup_->version() == cgroup::Version::kV1 && spec_.limits.memory_bytes)
      watch_oom(oom_timer);
    auto status = supervisor.run();
    if (!status) return report_failure(status.error());
    exit_status_ = status->code;
    if (cgroup_) {
      auto oom = cgroup_->oom_killed();
      if (oom && *oom)
        log::write(log::Level::kError, "", "the workload ran out of memory (--memory) and was killed");
    }
    if (tracer_) {
      if (auto w = tracer_->write_log(spec_.seccomp_log); !w)
        return report_failure(w.error());
    }
    return status->code;
  }

  void teardown() noexcept {
    if (child_ && !reaped_) {
      // Setup failed after clone: the child must not outlive us, nor linger as a zombie.
      syscall(SYS_pidfd_send_signal, child_->pidfd.get(), SIGKILL, nullptr, 0);
      siginfo_t info{};
      waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(child_->pidfd.get()), &info,
             WEXITED);
      reaped_ = true;
    }
    egress_.reset();
    if (network_) network_->detach();
    network_.reset();
    mark("  network teardown");
    if (cgroup_) {
      if (auto r = cgroup_->destroy(); !r) kLog.warn("cgroup: " + r.error().message());
      cgroup_.reset();
    }
    mark("  cgroup teardown");
    bool keep_state = false;
    if (stage_) keep_state = !finish_workspace();
    stage_.reset();  // teardown runs again from the destructor: never sync twice
    if (state_dir_ && !keep_state) {
      if (auto r = state_dir_->remove(); !r) kLog.warn(r.error().message());
    }
    state_dir_.reset();
  }

  // Syncs the staged workspace back; on failure moves it somewhere safe and says where.
  bool finish_workspace() noexcept {
    if (failure_ || !exit_status_) {
      // The workload never ran: the stage is an unchanged copy.
      std::error_code ec;
      std::filesystem::remove_all(*stage_, ec);
      return !ec;
    }
    auto synced = workspace::sync_back(*stage_, *spec_.workspace);
    if (synced) {
      std::error_code ec;
      std::filesystem::remove_all(*stage_, ec);
      if (!ec) (void)journal_.record_remove(kStageKind, *stage_);
      return !ec;
    }
    std::string kept = spec_.state_root + "/recovered/" + spec_.id + "-workspace";
    std::error_code ec;
    std::filesystem::create_directories(spec_.state_root + "/recovered", ec);
    std::filesystem::rename(*stage_, kept, ec);
    log::write(log::Level::kError, "workspace",
               "copying the workspace back failed (" + synced.error().message() +
                   "); your changes are kept at " + (ec ? *stage_ : kept));
    sync_failed_ = true;
    return !ec;  // if the move failed the state dir (holding the stage) must stay
  }

  static nlohmann::json describe_attachment(const net::NetAttachment& a) {
    nlohmann::json j = {{"interface", a.interface}};
    if (a.address4) j["ipv4"] = a.address4->to_string();
    if (a.gateway4) j["gateway4"] = a.gateway4->to_string();
    if (a.address6) j["ipv6"] = a.address6->to_string();
    if (a.gateway6) j["gateway6"] = a.gateway6->to_string();
    nlohmann::json dns = nlohmann::json::array();
    for (const auto& r : a.resolvers) dns.push_back(r.to_string());
    j["dns"] = dns;
    return j;
  }

  const ValidSpec& spec_;
  std::optional<int> exit_status_;
  bool sync_failed_ = false;
  std::chrono::steady_clock::time_point last_mark_ = std::chrono::steady_clock::now();
  std::optional<StateDir> state_dir_;
  Journal journal_;
  SandboxState state_;
  ChildPlan plan_;
  std::optional<std::string> stage_;
  std::optional<LaunchedChild> child_;
  std::optional<ChildFailure> failure_;
  // Declared before the objects that register work with it, so it outlives them.
  asio::io_context io_;
  std::unique_ptr<SandboxNetwork> network_;
  std::unique_ptr<EgressRuntime> egress_;
  std::optional<cgroup::Cgroup> cgroup_;
  std::optional<security::SeccompTracer> tracer_;
  bool reaped_ = false;
};

}  // namespace

int run_sandbox(const ValidSpec& spec) {
  log::set_sandbox_id(spec.id);
  SandboxRun run(spec);
  return run.execute();
}

}  // namespace nucleus
