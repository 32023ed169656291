#include "net/kernel/port_lease.h"

#include <unistd.h>

#include <vector>

#include "core/base/fs.h"
#include "net/port_spec.h"
#include "net/state_lock.h"

namespace nucleus::net::kernel::port_lease {
namespace {

struct Lease {
  Owner owner;
  std::vector<PortMapping> ports;
};

std::string lock_path(const std::string& root) { return root + "/net/ports.lock"; }
std::string state_path(const std::string& root) { return root + "/net/ports.json"; }

nlohmann::json to_json(const PortMapping& m) {
  nlohmann::json j = {{"host_port", m.host_port},
                      {"container_port", m.container_port},
                      {"proto", m.protocol == Protocol::kTcp ? "tcp" : "udp"}};
  if (m.host_ip) j["host_ip"] = m.host_ip->to_string();
  return j;
}

std::optional<PortMapping> from_json(const nlohmann::json& j) {
  PortMapping m;
  uint64_t host = json_uint(j, "host_port"), ctr = json_uint(j, "container_port");
  if (host == 0 || host > 65535 || ctr > 65535) return std::nullopt;
  m.host_port = static_cast<uint16_t>(host);
  m.container_port = static_cast<uint16_t>(ctr);
  m.protocol = json_string(j, "proto") == "udp" ? Protocol::kUdp : Protocol::kTcp;
  std::string ip = json_string(j, "host_ip");
  if (!ip.empty()) {
    auto parsed = IpAddress::parse(ip);
    if (!parsed) return std::nullopt;
    m.host_ip = *parsed;
  }
  return m;
}

// Leases of live owners only: the dead are reclaimed on every read.
Result<std::vector<Lease>> load(const std::string& path) {
  ASSIGN_OR_RETURN(std::optional<std::string> text, fs::read_state_file(path));
  if (!text) return std::vector<Lease>{};
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("leases") || !j["leases"].is_array())
    return fail("published ports", path + " is corrupt; remove it once no sandbox runs");
  std::vector<Lease> out;
  for (const auto& item : j["leases"]) {
    if (!item.is_object() || !item.contains("owner")) continue;
    Lease lease{Owner::from_json(item["owner"]), {}};
    if (!lease.owner.alive()) continue;
    if (item.contains("ports") && item["ports"].is_array())
      for (const auto& p : item["ports"])
        if (auto m = from_json(p)) lease.ports.push_back(*m);
    out.push_back(std::move(lease));
  }
  return out;
}

Result<void> store(const std::string& path, const std::vector<Lease>& leases) {
  if (leases.empty()) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error("unlink " + path);
    return {};
  }
  nlohmann::json list = nlohmann::json::array();
  for (const Lease& l : leases) {
    nlohmann::json ports = nlohmann::json::array();
    for (const PortMapping& m : l.ports) ports.push_back(to_json(m));
    list.push_back({{"owner", l.owner.to_json()}, {"ports", std::move(ports)}});
  }
  return fs::write_atomic(path, nlohmann::json{{"leases", std::move(list)}}.dump() + "\n", 0600);
}

}  // namespace

Result<void> reserve(const std::string& state_root, const Owner& owner,
                     std::span<const PortMapping> ports) {
  ASSIGN_OR_RETURN(StateLock lock, StateLock::acquire(lock_path(state_root)));
  ASSIGN_OR_RETURN(std::vector<Lease> leases, load(state_path(state_root)));
  std::erase_if(leases, [&](const Lease& l) { return l.owner.id == owner.id; });
  for (const PortMapping& m : ports) {
    for (const Lease& other : leases) {
      for (const PortMapping& theirs : other.ports) {
        if (overlaps(m, theirs))
          return make_error(EADDRINUSE, "--publish",
                            "host port " + to_string(m) + " is already published by sandbox " +
                                other.owner.id);
      }
    }
  }
  if (!ports.empty()) leases.push_back({owner, {ports.begin(), ports.end()}});
  return store(state_path(state_root), leases);
}

Result<void> release(const std::string& state_root, std::string_view owner_id) {
  if (::access(state_path(state_root).c_str(), F_OK) != 0 && errno == ENOENT) return {};
  ASSIGN_OR_RETURN(StateLock lock, StateLock::acquire(lock_path(state_root)));
  ASSIGN_OR_RETURN(std::vector<Lease> leases, load(state_path(state_root)));
  std::erase_if(leases, [&](const Lease& l) { return l.owner.id == owner_id; });
  return store(state_path(state_root), leases);
}

nlohmann::json journal_attrs(const std::string& state_root) { return {{"state_root", state_root}}; }

Result<void> undo(const JournalEntry& entry) {
  std::string state_root = json_string(entry.attrs, "state_root");
  if (state_root.empty()) return fail("port lease undo", "journal entry " + entry.key + " lacks state_root");
  return release(state_root, entry.key);
}

}  // namespace nucleus::net::kernel::port_lease
