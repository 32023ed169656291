#include "net/ipam.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/base/fs.h"
#include "net/state_lock.h"

namespace nucleus::net::ipam {
namespace {

std::string file_stem(const std::string& state_root, const Cidr& subnet) {
  std::string name = subnet.to_string();
  std::replace(name.begin(), name.end(), '/', '_');
  std::replace(name.begin(), name.end(), ':', '-');
  return state_root + "/ipam/" + name;
}

Result<std::vector<Lease>> load(const std::string& path, const Cidr& subnet) {
  ASSIGN_OR_RETURN(std::optional<std::string> text, fs::read_state_file(path));
  if (!text) return std::vector<Lease>{};
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("leases") || !j["leases"].is_array())
    return fail("ipam", path + " is corrupt; remove it once no sandbox of " + subnet.to_string() +
                            " runs");
  std::vector<Lease> out;
  for (const auto& item : j["leases"]) {
    auto ip = IpAddress::parse(json_string(item, "ip"));
    if (!ip || !subnet.contains(*ip)) continue;
    auto owner = item.find("owner");
    out.push_back({*ip, owner == item.end() ? Owner{} : Owner::from_json(*owner)});
  }
  return out;
}

Result<void> store(const std::string& path, const Cidr& subnet, const std::vector<Lease>& leases) {
  nlohmann::json list = nlohmann::json::array();
  for (const Lease& l : leases) list.push_back({{"ip", l.address.to_string()}, {"owner", l.owner.to_json()}});
  nlohmann::json doc = {{"subnet", subnet.to_string()}, {"leases", std::move(list)}};
  return fs::write_atomic(path, doc.dump() + "\n", 0600);
}

bool is_taken(const std::vector<Lease>& leases, const IpAddress& ip) {
  return std::any_of(leases.begin(), leases.end(), [&](const Lease& l) { return l.address == ip; });
}

}  // namespace

Result<void> check_subnet(const Cidr& subnet) {
  if (subnet.address.is_v4()) {
    if (subnet.prefix < 16 || subnet.prefix > 29)
      return fail("--subnet", subnet.to_string() + ": the prefix must be /16 to /29");
  } else if (subnet.prefix < 64 || subnet.prefix > 120) {
    return fail("--subnet6", subnet.to_string() + ": the prefix must be /64 to /120");
  }
  return {};
}

Result<IpAddress> gateway(const Cidr& subnet) { return subnet.nth(1); }

Result<IpAddress> reserve(const std::string& state_root, const Cidr& subnet, const Owner& owner,
                          std::optional<IpAddress> wanted) {
  TRY(check_subnet(subnet));
  const std::string flag = subnet.address.is_v4() ? "--ip" : "--ip6";
  ASSIGN_OR_RETURN(IpAddress gw, gateway(subnet));
  const uint64_t last = subnet.size() - 1;  // broadcast (v4); kept out for v6 too
  if (wanted) {
    if (!subnet.contains(*wanted))
      return fail(flag, wanted->to_string() + " is outside the subnet " + subnet.to_string());
    if (*wanted == gw)
      return fail(flag, wanted->to_string() + " is the gateway of " + subnet.to_string());
    if (*wanted == subnet.address || *wanted == *subnet.nth(last))
      return fail(flag, wanted->to_string() + " is the network or broadcast address of " +
                            subnet.to_string());
  }

  std::string stem = file_stem(state_root, subnet);
  ASSIGN_OR_RETURN(StateLock lock, StateLock::acquire(stem + ".lock"));
  ASSIGN_OR_RETURN(std::vector<Lease> all, load(stem + ".json", subnet));
  size_t before = all.size();
  std::erase_if(all, [](const Lease& l) { return !l.owner.alive(); });  // reclaim crashed runs
  bool changed = all.size() != before;

  for (const Lease& l : all) {
    if (l.owner.id != owner.id) continue;
    if (!wanted || *wanted == l.address) {
      if (changed) TRY(store(stem + ".json", subnet, all));
      return l.address;
    }
  }

  IpAddress chosen;
  if (wanted) {
    if (is_taken(all, *wanted)) {
      if (changed) TRY(store(stem + ".json", subnet, all));
      return make_error(EADDRINUSE, flag, wanted->to_string() + " is already used by another sandbox");
    }
    chosen = *wanted;
  } else {
    // Linear scan from the first address after the gateway: at most |leases| + 1 probes, so even
    // an IPv6 /64 is cheap.
    bool found = false;
    for (uint64_t n = 2; n < last; ++n) {
      ASSIGN_OR_RETURN(IpAddress candidate, subnet.nth(n));
      if (!is_taken(all, candidate)) {
        chosen = candidate;
        found = true;
        break;
      }
    }
    if (!found) return make_error(ENOSPC, "ipam", "no free address left in " + subnet.to_string());
  }
  all.push_back({chosen, owner});
  TRY(store(stem + ".json", subnet, all));
  return chosen;
}

Result<void> release(const std::string& state_root, const Cidr& subnet, std::string_view owner_id) {
  std::string stem = file_stem(state_root, subnet);
  // Nothing to release (and no directory to create) when no lease file was ever written.
  if (::access((stem + ".json").c_str(), F_OK) != 0 && errno == ENOENT) return {};
  ASSIGN_OR_RETURN(StateLock lock, StateLock::acquire(stem + ".lock"));
  ASSIGN_OR_RETURN(std::vector<Lease> all, load(stem + ".json", subnet));
  size_t before = all.size();
  std::erase_if(all, [&](const Lease& l) { return l.owner.id == owner_id || !l.owner.alive(); });
  if (all.size() == before) return {};
  if (all.empty()) {
    // No lease left: leave no state behind (load() reads a missing file as no leases). Safe under
    // the lock, which lives in its own file.
    if (::unlink((stem + ".json").c_str()) != 0 && errno != ENOENT)
      return errno_error("ipam", "remove " + stem + ".json");
    return {};
  }
  return store(stem + ".json", subnet, all);
}

Result<std::vector<Lease>> leases(const std::string& state_root, const Cidr& subnet) {
  std::string stem = file_stem(state_root, subnet);
  ASSIGN_OR_RETURN(StateLock lock, StateLock::acquire(stem + ".lock"));
  return load(stem + ".json", subnet);
}

std::string journal_key(const Cidr& subnet, std::string_view owner_id) {
  return subnet.to_string() + "@" + std::string(owner_id);
}

nlohmann::json journal_attrs(const std::string& state_root, const Cidr& subnet,
                             std::string_view owner_id) {
  return {{"state_root", state_root}, {"subnet", subnet.to_string()}, {"id", owner_id}};
}

Result<void> undo(const JournalEntry& entry) {
  std::string state_root = json_string(entry.attrs, "state_root");
  std::string id = json_string(entry.attrs, "id");
  if (state_root.empty() || id.empty())
    return fail("ipam undo", "journal entry " + entry.key + " lacks state_root/id");
  ASSIGN_OR_RETURN(Cidr subnet, Cidr::parse(json_string(entry.attrs, "subnet")));
  return release(state_root, subnet, id);
}

}  // namespace nucleus::net::ipam
