#include "net/kernel/ip_forward.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <vector>

#include "core/base/fs.h"
#include "net/kernel/sysctl.h"
#include "net/state_lock.h"

namespace nucleus::net::kernel::ip_forward {
namespace {

struct Family {
  const char* name;    // key in the state file
  const char* sysctl;  // knob under /proc/sys
};
constexpr std::array<Family, 2> kFamilies = {{
    {"ipv4", "net/ipv4/ip_forward"},
    {"ipv6", "net/ipv6/conf/all/forwarding"},
}};

struct Paths {
  std::string lock, state;
};
Paths paths(const std::string& state_root) {
  return {state_root + "/net/ip_forward.lock", state_root + "/net/ip_forward.json"};
}

Result<nlohmann::json> load(const std::string& path) {
  ASSIGN_OR_RETURN(std::optional<std::string> text, fs::read_state_file(path));
  if (!text) return nlohmann::json::object();
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  // A damaged file only loses the refcount; forwarding stays on (safe for running sandboxes).
  if (j.is_discarded() || !j.is_object()) return nlohmann::json::object();
  return j;
}

Result<void> store(const std::string& path, const nlohmann::json& j) {
  if (j.empty()) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error("unlink " + path);
    return {};
  }
  return fs::write_atomic(path, j.dump() + "\n", 0600);
}

// Owners of one family with the dead ones (and optionally `drop_id`) removed.
std::vector<Owner> live_owners(const nlohmann::json& entry, std::string_view drop_id) {
  std::vector<Owner> out;
  if (!entry.is_object() || !entry.contains("owners") || !entry["owners"].is_array()) return out;
  for (const auto& o : entry["owners"]) {
    Owner owner = Owner::from_json(o);
    if (owner.id != drop_id && owner.alive()) out.push_back(std::move(owner));
  }
  return out;
}

nlohmann::json owners_json(const std::vector<Owner>& owners) {
  nlohmann::json list = nlohmann::json::array();
  for (const Owner& o : owners) list.push_back(o.to_json());
  return list;
}

// Drops dead owners and `drop_id` from every family; restores the prior value of a family left
// without owners. Returns the first restore error but still processes every family.
Result<void> prune(nlohmann::json& state, std::string_view drop_id) {
  Result<void> result;
  for (const Family& f : kFamilies) {
    if (!state.contains(f.name)) continue;
    nlohmann::json& entry = state[f.name];
    std::vector<Owner> owners = live_owners(entry, drop_id);
    if (!owners.empty()) {
      entry["owners"] = owners_json(owners);
      continue;
    }
    std::string prior = json_string(entry, "prior");
    if (!prior.empty()) {
      auto r = write_sysctl(f.sysctl, prior);
      if (!r && result) result = r;
    }
    state.erase(f.name);
  }
  return result;
}

}  // namespace

Result<void> acquire(const std::string& state_root, const Owner& owner, bool ipv6) {
  Paths p = paths(state_root);
  ASSIGN_OR_RETURN(StateLock lock, StateLock::acquire(p.lock));
  ASSIGN_OR_RETURN(nlohmann::json state, load(p.state));
  TRY(prune(state, ""));
  for (const Family& f : kFamilies) {
    if (std::string_view(f.name) == "ipv6" && !ipv6) continue;
    if (!state.contains(f.name)) {
      // First user: remember what the host had, then switch on. Prior is recorded before the
      // write so a crash in between still restores the right value.
      ASSIGN_OR_RETURN(std::string prior, read_sysctl(f.sysctl));
      state[f.name] = {{"prior", prior}, {"owners", nlohmann::json::array()}};
      TRY(store(p.state, state));
    }
    nlohmann::json& entry = state[f.name];
    std::vector<Owner> owners = live_owners(entry, owner.id);
    owners.push_back(owner);
    entry["owners"] = owners_json(owners);
    TRY(store(p.state, state));
    TRY(write_sysctl(f.sysctl, "1"));
  }
  return {};
}

Result<void> release(const std::string& state_root, std::string_view owner_id) {
  Paths p = paths(state_root);
  if (::access(p.state.c_str(), F_OK) != 0 && errno == ENOENT) return {};
  ASSIGN_OR_RETURN(StateLock lock, StateLock::acquire(p.lock));
  ASSIGN_OR_RETURN(nlohmann::json state, load(p.state));
  auto restored = prune(state, owner_id);
  TRY(store(p.state, state));
  return restored;
}

nlohmann::json journal_attrs(const std::string& state_root) { return {{"state_root", state_root}}; }

Result<void> undo(const JournalEntry& entry) {
  std::string state_root = json_string(entry.attrs, "state_root");
  if (state_root.empty()) return fail("ip-forward undo", "journal entry " + entry.key + " lacks state_root");
  return release(state_root, entry.key);
}

}  // namespace nucleus::net::kernel::ip_forward
