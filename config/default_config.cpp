#include "config/load.hpp"

namespace cgihost::config {

// Dev mode is this config, loaded by the same loader as any file.
std::string_view dev_config_text() {
  return R"toml(# cgihost dev mode: the embedded default configuration
listen = ["127.0.0.1:8080"]
document_root = "."

[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"

[[handlers]]
match = "*.pl"
module = "cgi"
interpreter = ["perl"]

[[handlers]]
match = "*.cgi"
module = "cgi"

[[handlers]]
match = "/cgi-bin/*"
module = "cgi"

[pools.php]
command = ["php-cgi"]
max_instances = 2

[http]
keepalive_timeout = "5s"

[server]
grace_period = "2s"
)toml";
}

}  // namespace cgihost::config
