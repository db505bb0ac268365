#include "host/dispatch/identity_choice.hpp"

#include "spawner/this_process.hpp"

namespace cgihost::host {
namespace {

// Windows names an account by its SID (config/ gives one there only).
std::string describe(const config::account& a) {
  if (!a.sid.empty()) return "account " + a.name + " " + a.sid;
  return "account " + a.name + " uid " + std::to_string(a.uid) + " gid " + std::to_string(a.gid);
}

}  // namespace

process_identity_source process_identity_of(const config::config& cfg, const route& r) {
  process_identity_source out;
  if (!r.process_identity) return out;
  out.account = r.process_identity;
  out.from = "a location";
  const std::string path = r.script_name + r.path_info;
  std::size_t deepest = 0;
  for (const auto& loc : cfg.locations) {
    if (!loc.process_identity || loc.process_identity->name != r.process_identity->name) continue;
    const bool under = path.starts_with(loc.prefix) || path + "/" == loc.prefix;
    if (under && loc.prefix.size() >= deepest) {
      deepest = loc.prefix.size();
      out.from = "location " + loc.prefix;
    }
  }
  return out;
}

identity_choice choose_identity(const config::config& cfg, config::module_kind module,
                                bool create_process_as_user, bool impersonate,
                                const std::optional<std::string>& user, bool can_switch,
                                const process_identity_source& process,
                                std::shared_ptr<const spawner::identity> token) {
  identity_choice c;
  const bool cgi = module == config::module_kind::cgi;
  const bool file = module == config::module_kind::static_files;
  const bool per_request = file ? true : cgi ? create_process_as_user : impersonate;
  std::string setting =
      file ? std::string("static file")
      : cgi
          ? std::string("cgi create_process_as_user=") + (create_process_as_user ? "true" : "false")
          : std::string("fastcgi impersonate=") + (impersonate ? "true" : "false");
  const config::account* chosen = nullptr;
  config::account token_user;
  if (per_request && user && token) {
    token_user = config::account{token->name, token->uid.value, token->gid.value, "", token->sid};
    chosen = &token_user;
    c.token = std::move(token);
    c.why = setting + ", authenticated " + *user + " by the token IIS forwarded (its own user)";
  } else if (!per_request && process.account) {
    chosen = &*process.account;
    c.why = setting + " -> the process identity: " + process.from +
            " process_identity = " + chosen->name;
  } else if (!per_request) {
    chosen = &cfg.identity.process;
    c.why = setting + " -> the process identity";
  } else if (user) {
    auto mapped = cfg.accounts.find(*user);
    if (mapped == cfg.accounts.end()) {
      c.refused_status = 403;
      c.refusal =
          "authenticated as \"" + *user + "\", but [accounts] maps that name to no OS account";
      c.why = setting + ", authenticated " + *user + " -> no account";
      return c;
    }
    chosen = &mapped->second;
    c.why = setting + ", authenticated " + *user;
  } else {
    chosen = &cfg.identity.anonymous;
    c.anonymous = true;
    c.why = setting + ", anonymous -> identity.anonymous";
  }
  if (!can_switch) {
    const auto self = spawner::current_account();
    c.why += self.sid.empty() ? " -> cgihost's own account uid " + std::to_string(self.uid.value) +
                                    " (not root: it cannot switch)"
                              : " -> cgihost's own account " + self.name + " " + self.sid +
                                    " (no privileged spawner service: it cannot switch)";
    return c;
  }
  c.why += " -> " + describe(*chosen);
  // Never root, never below the configured minimum, whatever led here.
  if (chosen->uid == 0 || chosen->gid == 0) {
    c.refused_status = 500;
    c.refusal = describe(*chosen) + " is root: children never run as root";
  } else if (cfg.identity.min_uid && chosen->uid < *cfg.identity.min_uid) {
    c.refused_status = 500;
    c.refusal =
        describe(*chosen) + " is below identity.min_uid " + std::to_string(*cfg.identity.min_uid);
  } else if (cfg.identity.min_gid && chosen->gid < *cfg.identity.min_gid) {
    c.refused_status = 500;
    c.refusal =
        describe(*chosen) + " is below identity.min_gid " + std::to_string(*cfg.identity.min_gid);
  }
  c.account = *chosen;
  return c;
}

}  // namespace cgihost::host
