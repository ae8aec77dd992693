// link_spam: many links in one message, links to blocked domains, URL shorteners. Links to
// allowed domains are not counted and never hit.

#include "plugins/protections/builtins.hpp"
#include "plugins/protections/common.hpp"

namespace tyr::plugins::protections {

namespace {

using namespace engine::protection;

constexpr ConfigKey kConfig[] = {
    {"max_links", ConfigType::kInteger, "5",
     "Links (outside allowed_domains) allowed in one message; more hits LINK_SPAM.", 1, 1000},
    {"blocked_domains", ConfigType::kStringList, "[]",
     "Domains (and their subdomains) whose links hit BLOCKED_DOMAIN.", 0, 10000},
    {"allowed_domains", ConfigType::kStringList, "[\"matrix.org\"]",
     "Domains (and their subdomains) never counted or flagged.", 0, 10000},
    {"shorteners", ConfigType::kStringList,
     R"(["bit.ly","tinyurl.com","t.co","goo.gl","is.gd","ow.ly","buff.ly","cutt.ly","rebrand.ly","shorturl.at","tiny.cc","rb.gy"])",
     "URL-shortener domains whose links hit URL_SHORTENER.", 0, 10000},
};
constexpr SymbolSpec kSymbols[] = {
    {"LINK_SPAM", 4, "More than max_links links in one message."},
    {"BLOCKED_DOMAIN", 6, "A link to a domain in blocked_domains."},
    {"URL_SHORTENER", 2, "A link through a shortener in shorteners."},
};

class LinkSpam : public Protection {
 public:
  void on_event(const EventContext& ctx, const ProtectionConfig& cfg, Sink& sink) override {
    if (ctx.message.domains.empty()) return;
    const auto& allowed = cfg.list("allowed_domains");
    const auto& blocked = cfg.list("blocked_domains");
    const auto& shorteners = cfg.list("shorteners");
    uint32_t allowed_links = 0;
    protections::for_each_line(ctx.message.domains, [&](std::string_view host) {
      if (protections::domain_in(host, allowed)) {
        ++allowed_links;
        return;
      }
      if (protections::domain_in(host, blocked)) sink.hit("BLOCKED_DOMAIN", host);
      if (protections::domain_in(host, shorteners)) sink.hit("URL_SHORTENER", host);
    });
    // Links are counted per URL, domains per host; discount one link per allowed host.
    const uint32_t links =
        ctx.message.links > allowed_links ? ctx.message.links - allowed_links : 0;
    if (links > cfg.integer("max_links")) sink.hit("LINK_SPAM", "links=" + std::to_string(links));
  }
};

}  // namespace

constexpr ProtectionDescriptor kLinkSpamProtection{
    "link_spam",  "Links per message, blocked and allowed domains, URL shorteners.",
    kConfig,      kSymbols,
    kPowerRedact, []() -> std::unique_ptr<Protection> { return std::make_unique<LinkSpam>(); }};

}  // namespace tyr::plugins::protections
