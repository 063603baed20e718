// Connection settings: defaults, the TOML profile file, the environment and
// code, in that order of precedence (load_connection_settings, ClientOptions,
// WorkerOptions, batonctl). Every test runs with a fresh temporary HOME and
// no BATON_* connection variables; files are written under that HOME.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "baton/client.h"
#include "baton/config.h"
#include "baton/worker.h"
#include "tests/support/cli_run.h"

namespace baton {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kVariables[] = {"HOME",
                                      "BATON_ADDRESS",
                                      "BATON_BROKER_ADDRESS",
                                      "BATON_NAMESPACE",
                                      "BATON_API_KEY",
                                      "BATON_CONFIG_FILE",
                                      "BATON_PROFILE",
                                      "BATON_CURVE_SERVER_KEY",
                                      "BATON_CURVE_CLIENT_KEY_FILE",
                                      "BATON_CURVE_CLIENT_KEY"};

struct KeyPair {
  std::string public_key;
  std::string secret_key;
};

KeyPair new_key_pair() {
  char pub[41] = {}, sec[41] = {};
  EXPECT_EQ(zmq_curve_keypair(pub, sec), 0);
  return {pub, sec};
}

using testing::CliRun;

class Config : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kVariables) {
      if (const char* v = std::getenv(name)) saved_[name] = v;
      ::unsetenv(name);
    }
    char dir[] = "/tmp/baton-config-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    home_ = dir;
    set("HOME", home_);
  }

  void TearDown() override {
    std::filesystem::remove_all(home_);
    for (const char* name : kVariables) {
      const auto it = saved_.find(name);
      if (it == saved_.end()) {
        ::unsetenv(name);
      } else {
        ::setenv(name, it->second.c_str(), 1);
      }
    }
  }

  static void set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }

  // Writes `text` to `path` (relative: under HOME), creating directories.
  std::string write(const std::string& path, const std::string& text) {
    const std::filesystem::path p = path.front() == '/' ? path : home_ + "/" + path;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

  std::string write_default_file(const std::string& text) {
    return write(".config/baton/baton.toml", text);
  }

  std::string write_key_file(const std::string& path, const KeyPair& k) {
    return write(path,
                 "public_key = \"" + k.public_key + "\"\nsecret_key = \"" + k.secret_key + "\"\n");
  }

  // The error message of load_connection_settings(); fails the test if it
  // succeeds.
  static std::string load_error(const std::string& profile = {}) {
    Result<ConnectionSettings> r = load_connection_settings(profile);
    EXPECT_FALSE(r.is_ok());
    if (r.is_ok()) return {};
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    return r.status().message();
  }

  static ConnectionSettings load_ok(const std::string& profile = {}) {
    Result<ConnectionSettings> r = load_connection_settings(profile);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? *r : ConnectionSettings{};
  }

  // Runs batonctl with this process's environment (the fixture's HOME and
  // BATON_* variables).
  static CliRun batonctl(const std::string& args) {
    return testing::run_cli(std::string(BATONCTL_PATH) + " " + args);
  }

  std::string home_;

 private:
  std::map<std::string, std::string> saved_;
};

// --- precedence and selection ---

TEST_F(Config, DefaultsWhenThereIsNoFileAndNoVariable) {
  const ConnectionSettings s = load_ok();
  EXPECT_EQ(s.scheduler_address, "tcp://127.0.0.1:7233");
  EXPECT_EQ(s.broker_address, "tcp://127.0.0.1:7234");
  EXPECT_EQ(s.ns, "default");
  EXPECT_EQ(s.api_key, "");
  EXPECT_FALSE(s.curve.enabled());
  EXPECT_TRUE(s.metadata.empty());
  EXPECT_EQ(s.config_file, "");
  EXPECT_EQ(s.profile, "");
  for (const char* key : {"address", "broker_address", "namespace", "api_key", "curve.server_key",
                          "curve.public_key", "curve.secret_key"}) {
    EXPECT_EQ(s.sources.at(key), "default") << key;
  }
}

TEST_F(Config, DefaultFileIsUnderHomeDotConfig) {
  EXPECT_EQ(default_config_file_path(), home_ + "/.config/baton/baton.toml");
  const std::string file = write_default_file(R"(
[profile.default]
address = "tcp://sched.example:7233"
broker_address = "tcp://broker.example:7234"
namespace = "payments"
api_key = "bk_0123456789abcdef"
)");
  const ConnectionSettings s = load_ok();
  EXPECT_EQ(s.scheduler_address, "tcp://sched.example:7233");
  EXPECT_EQ(s.broker_address, "tcp://broker.example:7234");
  EXPECT_EQ(s.ns, "payments");
  EXPECT_EQ(s.api_key, "bk_0123456789abcdef");
  EXPECT_EQ(s.config_file, file);
  EXPECT_EQ(s.profile, "default");
  EXPECT_EQ(s.sources.at("address"), "file " + file + " [profile default]");
  EXPECT_EQ(s.sources.at("api_key"), "file " + file + " [profile default]");
  EXPECT_EQ(s.sources.at("config_file"), "default");
  EXPECT_EQ(s.sources.at("profile"), "default");
}

TEST_F(Config, WithoutHomeThereIsNoDefaultFile) {
  ::unsetenv("HOME");
  EXPECT_EQ(default_config_file_path(), "");
  EXPECT_EQ(load_ok().config_file, "");
}

TEST_F(Config, EnvironmentBeatsFileBeatsDefault) {
  const std::string file = write_default_file(R"(
[profile.default]
address = "tcp://from-file:1"
namespace = "file-ns"
api_key = "file-key-0123456789"
)");
  set("BATON_NAMESPACE", "env-ns");
  set("BATON_API_KEY", "env-key-0123456789");
  const ConnectionSettings s = load_ok();
  EXPECT_EQ(s.scheduler_address, "tcp://from-file:1");
  EXPECT_EQ(s.sources.at("address"), "file " + file + " [profile default]");
  EXPECT_EQ(s.ns, "env-ns");
  EXPECT_EQ(s.sources.at("namespace"), "env BATON_NAMESPACE");
  EXPECT_EQ(s.api_key, "env-key-0123456789");
  EXPECT_EQ(s.sources.at("api_key"), "env BATON_API_KEY");
  EXPECT_EQ(s.broker_address, kDefaultBrokerAddress);
  EXPECT_EQ(s.sources.at("broker_address"), "default");
}

TEST_F(Config, EmptyVariablesAreUnset) {
  write_default_file("[profile.default]\nnamespace = \"file-ns\"\n");
  set("BATON_NAMESPACE", "");
  set("BATON_PROFILE", "");
  EXPECT_EQ(load_ok().ns, "file-ns");
}

TEST_F(Config, BatonProfileSelectsTheProfile) {
  const std::string file = write_default_file(R"(
[profile.default]
namespace = "dev"
[profile.prod]
namespace = "prod"
address = "tcp://prod:7233"
)");
  set("BATON_PROFILE", "prod");
  const ConnectionSettings s = load_ok();
  EXPECT_EQ(s.ns, "prod");
  EXPECT_EQ(s.scheduler_address, "tcp://prod:7233");
  EXPECT_EQ(s.profile, "prod");
  EXPECT_EQ(s.sources.at("profile"), "env BATON_PROFILE");
  EXPECT_EQ(s.sources.at("namespace"), "file " + file + " [profile prod]");
}

TEST_F(Config, ProfileChosenInCodeBeatsBatonProfile) {
  write_default_file(R"(
[profile.a]
namespace = "a"
[profile.b]
namespace = "b"
)");
  set("BATON_PROFILE", "a");
  const Result<ConnectionSettings> s = load_connection_settings("b", "flag --profile");
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(s->ns, "b");
  EXPECT_EQ(s->sources.at("profile"), "flag --profile");
}

TEST_F(Config, BatonConfigFileReplacesTheDefaultFile) {
  write_default_file("[profile.default]\nnamespace = \"home\"\n");
  const std::string other =
      write("elsewhere/team.toml", "[profile.default]\nnamespace = \"team\"\n");
  set("BATON_CONFIG_FILE", other);
  const ConnectionSettings s = load_ok();
  EXPECT_EQ(s.ns, "team");
  EXPECT_EQ(s.config_file, other);
  EXPECT_EQ(s.sources.at("config_file"), "env BATON_CONFIG_FILE");
}

TEST_F(Config, MetadataIsReadFromTheProfile) {
  const std::string file = write_default_file(R"(
[profile.default]
[profile.default.metadata]
tenant = "acme"
"x-request-source" = "batch jobs"
)");
  const ConnectionSettings s = load_ok();
  EXPECT_EQ(s.metadata, (std::map<std::string, std::string>{{"tenant", "acme"},
                                                            {"x-request-source", "batch jobs"}}));
  EXPECT_EQ(s.sources.at("metadata.tenant"), "file " + file + " [profile default]");
}

// --- CurveZMQ keys ---

TEST_F(Config, CurveKeysInlineInTheProfile) {
  const KeyPair server = new_key_pair(), client = new_key_pair();
  write_default_file("[profile.default.curve]\nserver_key = \"" + server.public_key +
                     "\"\npublic_key = \"" + client.public_key + "\"\nsecret_key = \"" +
                     client.secret_key + "\"\n");
  const ConnectionSettings s = load_ok();
  EXPECT_TRUE(s.curve.enabled());
  EXPECT_EQ(s.curve.server_key, server.public_key);
  EXPECT_EQ(s.curve.public_key, client.public_key);
  EXPECT_EQ(s.curve.secret_key, client.secret_key);
}

TEST_F(Config, CurveClientKeyFileIsRelativeToTheProfileFile) {
  const KeyPair server = new_key_pair(), client = new_key_pair();
  const std::string key_file = write_key_file(".config/baton/client.key", client);
  const std::string file =
      write_default_file("[profile.default.curve]\nserver_key = \"" + server.public_key +
                         "\"\nclient_key_file = \"client.key\"\n");
  const ConnectionSettings s = load_ok();
  EXPECT_EQ(s.curve.server_key, server.public_key);
  EXPECT_EQ(s.curve.public_key, client.public_key);
  EXPECT_EQ(s.curve.secret_key, client.secret_key);
  EXPECT_EQ(s.sources.at("curve.server_key"), "file " + file + " [profile default]");
  EXPECT_THAT(s.sources.at("curve.secret_key"), HasSubstr("key file " + key_file));
  EXPECT_THAT(s.sources.at("curve.secret_key"), HasSubstr("client_key_file"));
}

TEST_F(Config, CurveKeysFromTheEnvironmentBeatTheProfile) {
  const KeyPair server = new_key_pair(), file_client = new_key_pair(), env_client = new_key_pair();
  write_default_file("[profile.default.curve]\nserver_key = \"" + new_key_pair().public_key +
                     "\"\npublic_key = \"" + file_client.public_key + "\"\nsecret_key = \"" +
                     file_client.secret_key + "\"\n");
  set("BATON_CURVE_SERVER_KEY", server.public_key);
  const std::string key_file = write_key_file("keys/worker.key", env_client);
  set("BATON_CURVE_CLIENT_KEY_FILE", key_file);
  ConnectionSettings s = load_ok();
  EXPECT_EQ(s.curve.server_key, server.public_key);
  EXPECT_EQ(s.sources.at("curve.server_key"), "env BATON_CURVE_SERVER_KEY");
  EXPECT_EQ(s.curve.public_key, env_client.public_key);
  EXPECT_EQ(s.curve.secret_key, env_client.secret_key);
  EXPECT_EQ(s.sources.at("curve.public_key"),
            "key file " + key_file + " (env BATON_CURVE_CLIENT_KEY_FILE)");

  ::unsetenv("BATON_CURVE_CLIENT_KEY_FILE");
  set("BATON_CURVE_CLIENT_KEY", env_client.public_key + ":" + env_client.secret_key);
  s = load_ok();
  EXPECT_EQ(s.curve.public_key, env_client.public_key);
  EXPECT_EQ(s.curve.secret_key, env_client.secret_key);
  EXPECT_EQ(s.sources.at("curve.secret_key"), "env BATON_CURVE_CLIENT_KEY");
}

TEST_F(Config, ReadCurveKeyFileReturnsThePair) {
  const KeyPair k = new_key_pair();
  const Result<CurveKeyPair> pair = read_curve_key_file(write_key_file("k.toml", k));
  ASSERT_TRUE(pair.is_ok()) << pair.status().to_string();
  EXPECT_EQ(pair->public_key, k.public_key);
  EXPECT_EQ(pair->secret_key, k.secret_key);
}

TEST_F(Config, ValidateZ85KeyWantsFortyZ85Characters) {
  EXPECT_TRUE(validate_z85_key(new_key_pair().public_key, "k").is_ok());
  const Status short_key = validate_z85_key("abc", "BATON_CURVE_SERVER_KEY");
  EXPECT_EQ(short_key.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(short_key.message(), HasSubstr("BATON_CURVE_SERVER_KEY"));
  EXPECT_THAT(short_key.message(), HasSubstr("40 Z85 characters, got 3"));
  const Status bad_char = validate_z85_key(std::string(39, 'a') + "\"", "here");
  EXPECT_THAT(bad_char.message(), HasSubstr("here: character 40"));
}

TEST_F(Config, MaskSecretShowsAtMostFourCharacters) {
  EXPECT_EQ(mask_secret(""), "");
  EXPECT_EQ(mask_secret("short"), "****");
  EXPECT_EQ(mask_secret("bk_live_0123456789"), "bk_l****");
}

// --- errors ---

TEST_F(Config, ExplicitConfigFileThatDoesNotExistIsAnError) {
  set("BATON_CONFIG_FILE", home_ + "/missing.toml");
  const std::string e = load_error();
  EXPECT_THAT(e, HasSubstr("BATON_CONFIG_FILE"));
  EXPECT_THAT(e, HasSubstr(home_ + "/missing.toml"));
}

TEST_F(Config, UnreadableFileIsAnError) {
  // A directory cannot be read as a file, even by root.
  std::filesystem::create_directories(home_ + "/.config/baton/baton.toml");
  EXPECT_THAT(load_error(), HasSubstr("cannot read " + home_ + "/.config/baton/baton.toml"));
  std::filesystem::remove(home_ + "/.config/baton/baton.toml");

  const std::string file = write_default_file("[profile.default]\n");
  ::chmod(file.c_str(), 0);
  if (::geteuid() != 0) {
    const std::string e = load_error();
    EXPECT_THAT(e, HasSubstr("cannot read " + file));
    EXPECT_THAT(e, HasSubstr("Permission denied"));
  }
}

TEST_F(Config, MalformedTomlNamesTheFileLineAndColumn) {
  const std::string file = write_default_file("[profile.default]\naddress = \"tcp://x:1\n");
  const std::string e = load_error();
  EXPECT_THAT(e, HasSubstr(file + ":2:"));
  EXPECT_THAT(e, HasSubstr("malformed TOML"));
}

TEST_F(Config, UnknownProfileInAFileIsAnErrorListingTheProfiles) {
  const std::string file = write_default_file("[profile.dev]\n[profile.prod]\n");
  std::string e = load_error();  // "default" is not there either
  EXPECT_THAT(e, HasSubstr(file));
  EXPECT_THAT(e, HasSubstr("no profile 'default'"));
  EXPECT_THAT(e, HasSubstr("profiles: dev, prod"));
  set("BATON_PROFILE", "staging");
  e = load_error();
  EXPECT_THAT(e, HasSubstr("no profile 'staging' (from env BATON_PROFILE"));
}

TEST_F(Config, ChosenProfileWithoutAFileIsAnError) {
  set("BATON_PROFILE", "prod");
  const std::string e = load_error();
  EXPECT_THAT(e, HasSubstr("no profile 'prod' (from env BATON_PROFILE)"));
  EXPECT_THAT(e, HasSubstr(home_ + "/.config/baton/baton.toml does not exist"));
  ::unsetenv("BATON_PROFILE");
  EXPECT_THAT(load_error("prod"), HasSubstr("no profile 'prod' (from code)"));
}

TEST_F(Config, UnknownKeysAreErrorsNamingThem) {
  const std::string file = write_default_file(R"(
[profile.default]
adress = "tcp://x:1"
namespace = "ok"
api-key = "k"
)");
  const std::string e = load_error();
  EXPECT_THAT(e, HasSubstr(file + ":3:"));
  EXPECT_THAT(e, HasSubstr("[profile.default]"));
  EXPECT_THAT(e, HasSubstr("'adress' (line 3)"));
  EXPECT_THAT(e, HasSubstr("'api-key' (line 5)"));
  EXPECT_THAT(e, Not(HasSubstr("'namespace'")));

  write_default_file("[profile.default.curve]\nserver-key = \"x\"\n");
  EXPECT_THAT(load_error(), HasSubstr("'server-key'"));

  write_default_file("address = \"tcp://x:1\"\n[profile.default]\n");
  EXPECT_THAT(load_error(), HasSubstr("unknown key(s) in the top level"));

  write_default_file("[profiles.default]\naddress = \"tcp://x:1\"\n");
  EXPECT_THAT(load_error(), HasSubstr("'profiles'"));
}

TEST_F(Config, WrongTypesAndEmptyValuesAreErrors) {
  write_default_file("[profile.default]\nnamespace = 7\n");
  EXPECT_THAT(load_error(),
              HasSubstr("[profile.default] namespace must be a string, not an integer"));
  write_default_file("[profile.default]\naddress = \"\"\n");
  EXPECT_THAT(load_error(), HasSubstr("address is empty"));
  write_default_file("[profile.default.metadata]\nretries = 3\n");
  EXPECT_THAT(load_error(), HasSubstr("metadata.retries must be a string"));
  write_default_file("[profile.default]\nmetadata = \"tenant=acme\"\n");
  EXPECT_THAT(load_error(), HasSubstr("metadata must be a table"));
  write_default_file("[profile]\ndefault = \"x\"\n");
  EXPECT_THAT(load_error(), HasSubstr("[profile.default] must be a table"));
}

TEST_F(Config, WrongKeyLengthNamesTheVariable) {
  const KeyPair client = new_key_pair();
  set("BATON_CURVE_CLIENT_KEY", client.public_key + ":" + client.secret_key);
  set("BATON_CURVE_SERVER_KEY", "tooshort");
  std::string e = load_error();
  EXPECT_THAT(e, HasSubstr("BATON_CURVE_SERVER_KEY"));
  EXPECT_THAT(e, HasSubstr("got 8"));

  set("BATON_CURVE_SERVER_KEY", new_key_pair().public_key);
  set("BATON_CURVE_CLIENT_KEY", client.public_key + ":" + client.secret_key + "x");
  e = load_error();
  EXPECT_THAT(e, HasSubstr("BATON_CURVE_CLIENT_KEY"));
  EXPECT_THAT(e, Not(HasSubstr(client.secret_key)));
}

TEST_F(Config, WrongKeyLengthNamesTheFileAndField) {
  const KeyPair client = new_key_pair();
  const std::string file = write_default_file(
      "[profile.prod.curve]\nserver_key = \"" + std::string(39, 'a') + "\"\npublic_key = \"" +
      client.public_key + "\"\nsecret_key = \"" + client.secret_key + "\"\n");
  set("BATON_PROFILE", "prod");
  std::string e = load_error();
  EXPECT_THAT(e, HasSubstr(file + " [profile.prod] curve.server_key"));
  EXPECT_THAT(e, HasSubstr("got 39"));

  const std::string key_file =
      write("bad.key", "public_key = \"" + client.public_key + "\"\nsecret_key = \"abc\"\n");
  set("BATON_CURVE_SERVER_KEY", new_key_pair().public_key);
  set("BATON_CURVE_CLIENT_KEY_FILE", key_file);
  e = load_error();
  EXPECT_THAT(e, HasSubstr("BATON_CURVE_CLIENT_KEY_FILE"));
  EXPECT_THAT(e, HasSubstr(key_file + " secret_key"));
  EXPECT_THAT(e, HasSubstr("got 3"));
}

TEST_F(Config, KeyFileErrors) {
  const KeyPair k = new_key_pair(), other = new_key_pair();
  const std::string missing = home_ + "/none.key";
  EXPECT_THAT(read_curve_key_file(missing).status().message(), HasSubstr("cannot read " + missing));
  const std::string half = write("half.key", "public_key = \"" + k.public_key + "\"\n");
  EXPECT_THAT(read_curve_key_file(half).status().message(), HasSubstr("has no secret_key"));
  const std::string extra =
      write("extra.key", "public_key = \"" + k.public_key + "\"\nsecret_key = \"" + k.secret_key +
                             "\"\nserver_key = \"x\"\n");
  EXPECT_THAT(read_curve_key_file(extra).status().message(), HasSubstr("'server_key'"));
  const std::string mixed = write("mixed.key", "public_key = \"" + other.public_key +
                                                   "\"\nsecret_key = \"" + k.secret_key + "\"\n");
  const Status st = read_curve_key_file(mixed).status();
  EXPECT_THAT(st.message(), HasSubstr("public_key does not belong to secret_key"));
  EXPECT_THAT(st.message(), Not(HasSubstr(k.secret_key)));

  const std::string file =
      write_default_file("[profile.default.curve]\nserver_key = \"" + k.public_key +
                         "\"\nclient_key_file = \"gone.key\"\n");
  const std::string e = load_error();
  EXPECT_THAT(e, HasSubstr(file + " [profile.default] curve.client_key_file"));
  EXPECT_THAT(e, HasSubstr("cannot read " + home_ + "/.config/baton/gone.key"));
}

TEST_F(Config, IncompleteOrAmbiguousCurveSettingsAreErrors) {
  const KeyPair server = new_key_pair(), client = new_key_pair();
  set("BATON_CURVE_SERVER_KEY", server.public_key);
  EXPECT_THAT(load_error(), HasSubstr("no client key pair"));

  ::unsetenv("BATON_CURVE_SERVER_KEY");
  set("BATON_CURVE_CLIENT_KEY", client.public_key + ":" + client.secret_key);
  EXPECT_THAT(load_error(), HasSubstr("no server key"));

  set("BATON_CURVE_SERVER_KEY", server.public_key);
  set("BATON_CURVE_CLIENT_KEY_FILE", write_key_file("c.key", client));
  EXPECT_THAT(load_error(),
              HasSubstr("both BATON_CURVE_CLIENT_KEY_FILE and BATON_CURVE_CLIENT_KEY"));

  ::unsetenv("BATON_CURVE_CLIENT_KEY_FILE");
  set("BATON_CURVE_CLIENT_KEY", new_key_pair().public_key + ":" + client.secret_key);
  EXPECT_THAT(load_error(), HasSubstr("BATON_CURVE_CLIENT_KEY: public_key does not belong"));

  ::unsetenv("BATON_CURVE_CLIENT_KEY");
  write_default_file("[profile.default.curve]\nclient_key_file = \"c.key\"\npublic_key = \"" +
                     client.public_key + "\"\nsecret_key = \"" + client.secret_key + "\"\n");
  EXPECT_THAT(load_error(), HasSubstr("both client_key_file and public_key/secret_key"));
  write_default_file("[profile.default.curve]\npublic_key = \"" + client.public_key + "\"\n");
  EXPECT_THAT(load_error(), HasSubstr("public_key without secret_key"));
}

TEST_F(Config, ConnectionSettingsFromEnvFallsBackToTheEnvironmentOnError) {
  write_default_file("[profile.default]\nadress = \"typo\"\n");
  set("BATON_ADDRESS", "tcp://env:1");
  const ConnectionSettings s = connection_settings_from_env();
  EXPECT_EQ(s.scheduler_address, "tcp://env:1");
  EXPECT_EQ(s.ns, kDefaultNamespace);
  EXPECT_EQ(s.config_file, "");
}

// --- ClientOptions and WorkerOptions ---

TEST_F(Config, ClientOptionsLoadCarriesEverySetting) {
  const KeyPair server = new_key_pair(), client = new_key_pair();
  write_default_file(
      "[profile.default]\naddress = \"tcp://s:1\"\nnamespace = \"n\"\n"
      "api_key = \"key-0123456789\"\n"
      "[profile.default.metadata]\ntenant = \"acme\"\n"
      "[profile.default.curve]\nserver_key = \"" +
      server.public_key + "\"\npublic_key = \"" + client.public_key + "\"\nsecret_key = \"" +
      client.secret_key + "\"\n");
  const Result<ClientOptions> o = ClientOptions::load();
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_EQ(o->address, "tcp://s:1");
  EXPECT_EQ(o->ns, "n");
  EXPECT_EQ(o->api_key, "key-0123456789");
  EXPECT_EQ(o->metadata.at("tenant"), "acme");
  EXPECT_EQ(o->curve.server_key, server.public_key);
  EXPECT_EQ(o->curve.secret_key, client.secret_key);
  EXPECT_EQ(ClientOptions::from_env().api_key, "key-0123456789");
}

TEST_F(Config, ClientOptionsLoadReportsErrorsAndFromEnvFallsBack) {
  write_default_file("[profile.default]\nnamespace = \"file\"\nbogus = 1\n");
  set("BATON_NAMESPACE", "env");
  const Result<ClientOptions> o = ClientOptions::load();
  ASSERT_FALSE(o.is_ok());
  EXPECT_THAT(o.status().message(), HasSubstr("'bogus'"));
  EXPECT_EQ(ClientOptions::from_env().ns, "env");
}

TEST_F(Config, WorkerOptionsCarryCurveSettings) {
  const KeyPair server = new_key_pair(), client = new_key_pair();
  set("BATON_CURVE_SERVER_KEY", server.public_key);
  set("BATON_CURVE_CLIENT_KEY", client.public_key + ":" + client.secret_key);
  set("BATON_BROKER_ADDRESS", "tcp://broker:9");
  const WorkerOptions o = WorkerOptions::from_env();
  EXPECT_TRUE(o.config_error.is_ok()) << o.config_error.to_string();
  EXPECT_EQ(o.broker_address, "tcp://broker:9");
  EXPECT_EQ(o.curve.server_key, server.public_key);
  EXPECT_EQ(o.curve.public_key, client.public_key);
  EXPECT_EQ(o.curve.secret_key, client.secret_key);
}

TEST_F(Config, WorkerWithAConfigErrorDoesNotRun) {
  set("BATON_PROFILE", "nope");
  WorkerOptions o = WorkerOptions::from_env();
  EXPECT_THAT(o.config_error.message(), HasSubstr("no profile 'nope'"));
  o.handle_signals = false;
  Worker worker(std::move(o));
  EXPECT_EQ(worker.run(), 1);
}

TEST_F(Config, WorkerWithAMalformedCurveKeyInCodeDoesNotRun) {
  WorkerOptions o;
  o.handle_signals = false;
  o.curve.server_key = "short";
  Worker worker(std::move(o));
  EXPECT_EQ(worker.run(), 1);
}

// --- batonctl ---

TEST_F(Config, BatonctlConfigShowMasksSecretsAndNamesSources) {
  const KeyPair server = new_key_pair(), client = new_key_pair();
  const std::string file = write_default_file(
      "[profile.default]\naddress = \"tcp://file:1\"\napi_key = \"bk_live_0123456789\"\n"
      "[profile.default.metadata]\ntenant = \"acme\"\n"
      "[profile.default.curve]\nserver_key = \"" +
      server.public_key + "\"\npublic_key = \"" + client.public_key + "\"\nsecret_key = \"" +
      client.secret_key + "\"\n");
  set("BATON_NAMESPACE", "env-ns");
  const CliRun r = batonctl("config show");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string in_file = "file " + file + " [profile default]";
  EXPECT_THAT(r.out, HasSubstr("SETTING"));
  EXPECT_THAT(r.out, HasSubstr("SOURCE"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("address +tcp://file:1 +" + std::string("file ")));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("namespace +env-ns +env BATON_NAMESPACE"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("broker_address +tcp://127.0.0.1:7234 +default"));
  EXPECT_THAT(r.out, HasSubstr("bk_l****"));
  EXPECT_THAT(r.out, Not(HasSubstr("bk_live_0123456789")));
  EXPECT_THAT(r.out, HasSubstr(client.secret_key.substr(0, 4) + "****"));
  EXPECT_THAT(r.out, Not(HasSubstr(client.secret_key)));
  EXPECT_THAT(r.out, HasSubstr(server.public_key));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("metadata.tenant +acme"));
  EXPECT_THAT(r.out, HasSubstr(in_file));
}

TEST_F(Config, BatonctlConfigShowJsonAndFlagsBeatTheEnvironment) {
  const std::string file = write_default_file(R"(
[profile.default]
namespace = "dev"
[profile.prod]
namespace = "prod"
api_key = "prod-secret-0123456789"
)");
  set("BATON_ADDRESS", "tcp://env:1");
  set("BATON_PROFILE", "default");
  const CliRun r =
      batonctl("config show -o json --profile prod --address tcp://flag:2 --namespace flagns");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["address"]["value"], "tcp://flag:2");
  EXPECT_EQ(j["address"]["source"], "flag --address");
  EXPECT_EQ(j["namespace"]["value"], "flagns");
  EXPECT_EQ(j["namespace"]["source"], "flag --namespace");
  EXPECT_EQ(j["api_key"]["value"], "prod****");
  EXPECT_EQ(j["api_key"]["source"], "file " + file + " [profile prod]");
  EXPECT_EQ(j["profile"]["value"], "prod");
  EXPECT_EQ(j["profile"]["source"], "flag --profile");
  EXPECT_EQ(j["config_file"]["value"], file);
  EXPECT_TRUE(j["curve.server_key"]["value"].is_null());
  EXPECT_EQ(r.out.find("prod-secret-0123456789"), std::string::npos);
}

TEST_F(Config, BatonctlConfigShowWithoutAFile) {
  const CliRun r = batonctl("config show -o json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["address"]["value"], kDefaultSchedulerAddress);
  EXPECT_EQ(j["address"]["source"], "default");
  EXPECT_TRUE(j["config_file"]["value"].is_null());
  EXPECT_EQ(j["config_file"]["source"],
            "none: " + home_ + "/.config/baton/baton.toml does not exist");
}

TEST_F(Config, BatonctlExitsTwoOnABadConfiguration) {
  const std::string file = write_default_file("[profile.default]\nnamspace = \"x\"\n");
  for (const char* args : {"config show", "describe some-id", "list"}) {
    const CliRun r = batonctl(args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_THAT(r.err, HasSubstr("batonctl: " + file + ":2:")) << args;
    EXPECT_THAT(r.err, HasSubstr("'namspace'")) << args;
    EXPECT_EQ(r.out, "") << args;
  }
  write_default_file("[profile.default]\n");
  const CliRun r = batonctl("config show --profile nope");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("no profile 'nope' (from flag --profile"));
  EXPECT_EQ(batonctl("--help").exit_code, 0) << "help needs no configuration";
}

}  // namespace
}  // namespace baton
