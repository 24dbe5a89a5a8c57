// SPDX-License-Identifier: MPL-2.0
use super::*;
use crate::config::Setup;
use std::time::Duration;

fn env(name: &str) -> Option<String> {
    match name {
        "ICE_PW" => Some("hunter2-pw".into()),
        "TOKEN" => Some("t0ken-t0ken".into()),
        _ => None,
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn ok(text: &str) -> StationsFile {
    parse(text, "stations.toml", &env).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    parse(text, "stations.toml", &env).unwrap_err()
}

#[test]
fn the_icecast_convention_gives_inputs_output_and_credentials() {
    let f = ok(r#"
icecast = "http://127.0.0.1:8000"
source-password = "${ICE_PW}"

[[station]]
id = "jazz"

[[station]]
id = "news"
setup = "decode"
output-mount = "/{id}.aac"
output-icecast = "http://10.0.0.2:8100"
"#);
    assert_eq!(f.stations.len(), 2);
    let jazz = &f.stations[0].config;
    assert_eq!(jazz.id, "jazz");
    assert_eq!(jazz.primary, "http://127.0.0.1:8000/jazz.aac");
    assert_eq!(jazz.secondary, "http://127.0.0.1:8000/jazz_fallback.aac");
    assert_eq!(
        jazz.output,
        "icecast://source:hunter2-pw@127.0.0.1:8000/jazz_relay.aac"
    );
    assert_eq!(jazz.setup, Setup::Passthrough);
    let news = &f.stations[1].config;
    assert_eq!(news.setup, Setup::Decode);
    assert_eq!(
        news.output,
        "icecast://source:hunter2-pw@10.0.0.2:8100/news.aac"
    );
    // What is shown never has the password.
    assert_eq!(
        f.redactor.url(&jazz.output),
        "icecast://source:***@127.0.0.1:8000/jazz_relay.aac"
    );
    assert_eq!(f.redactor.text("failed: hunter2-pw"), "failed: ***");
}

#[test]
fn every_command_line_option_is_a_key_and_stations_override_the_top_level() {
    let f = ok(r#"
timeout = "2s"
restore_delay = 3
mode = "sticky"

[[station]]
id = "a"
primary = "http://h:1/p.aac"
secondary = "http://h:1/s.aac"
output = "icecast://source:pw@h:1/o.aac"
setup = "decode"
timeout = "250ms"
crossfade = 0.05
bitrate = 96000
encoder = "avenc_aac"
latency = "200ms"
reconnect-delay = "2s"
events = "/tmp/{id}-events.txt"

[[station]]
id = "b"
primary = "http://h:1/p2.aac"
secondary = "http://h:1/s2.aac"
output = "-"
"#);
    let a = &f.stations[0];
    assert_eq!(a.config.timeout, Duration::from_millis(250));
    assert_eq!(a.config.restore_delay, Duration::from_secs(3));
    assert_eq!(a.config.mode, "sticky");
    assert_eq!(a.config.crossfade, Duration::from_millis(50));
    assert_eq!(a.config.bitrate, 96000);
    assert_eq!(a.config.encoder, "avenc_aac");
    assert_eq!(a.config.latency, Duration::from_millis(200));
    assert_eq!(a.config.reconnect_delay, Duration::from_secs(2));
    assert_eq!(a.events.as_deref(), Some("/tmp/a-events.txt"));
    assert_eq!(a.timeline, None);
    let b = &f.stations[1].config;
    assert_eq!(b.timeout, Duration::from_secs(2));
    assert_eq!(b.output, "-");
    // The literal password of a URL is a secret too.
    assert_eq!(f.redactor.text("pw=pw"), "pw=pw", "too short to search for");
    // Every station option of the command line is accepted in a station table.
    for key in config::OPTIONS {
        assert!(
            !err(&format!("[[station]]\nid = \"x\"\n{key} = \"?\"\n")).contains("unknown key"),
            "{key}"
        );
    }
}

#[test]
fn refusals_name_file_line_column_and_what_is_wrong() {
    let e = err(r#"icecast = "http://127.0.0.1:8000"
source-password = "pw-long"

[[station]]
id = "a"
timeout = "1x"
"#);
    assert!(
        e.starts_with("stations.toml:6:11: station 'a': timeout: bad duration '1x'"),
        "{e}"
    );

    let e = err(
        "icecast = \"http://h:1\"\nsource-password = \"pw-long\"\n[[station]]\nid = \"a\"\ntimout = \"1s\"\n",
    );
    assert!(
        e.starts_with("stations.toml:5:1: unknown key 'timout'"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");

    let e = err(
        "source-password = \"pw-long\"\n[[station]]\nid = \"a\"\nicecast = \"http://h:1\"\n[[station]]\nid = \"a\"\nicecast = \"http://h:2\"\n",
    );
    assert!(
        e.starts_with("stations.toml:5:1: station id 'a' is used twice"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");

    let e = err(
        "icecast = \"http://h:1\"\nsource-password = \"pw-long\"\noutput-mount = \"/same.aac\"\n[[station]]\nid = \"a\"\n[[station]]\nid = \"b\"\n",
    );
    assert!(
        e.contains("station 'b': its output 'h:1/same.aac' is also station 'a''s"),
        "{e}"
    );

    let e = err("[[station]]\nsetup = \"decode\"\n");
    assert!(
        e.starts_with("stations.toml:1:1: a [[station]] needs an id"),
        "{e}"
    );

    let e = err("[[station]]\nid = \"a b\"\n");
    assert!(e.contains("2:6: id: 'a b'"), "{e}");

    let e = err("[[station]]\nid = \"a\"\n");
    assert!(e.contains("station 'a': no primary"), "{e}");

    let e = err("[[station]]\nid = \"a\n");
    assert!(e.starts_with("stations.toml:2:"), "syntax error: {e}");

    let e = err(
        "icecast = \"http://h:1\"\nsource-password = \"${MISSING}\"\n[[station]]\nid = \"a\"\n",
    );
    assert!(
        e.contains("2:19: source-password: environment variable MISSING is not set"),
        "{e}"
    );

    let e = parse(
        "icecast = \"http://h:1\"\n[[station]]\nid = \"a\"\n",
        "f",
        &no_env,
    )
    .unwrap_err();
    assert!(e.contains("station 'a': no source password"), "{e}");

    let e = err("id = \"a\"\n");
    assert!(e.contains("'id' belongs in a [[station]] table"), "{e}");

    let e = err("station = 3\n");
    assert!(e.contains("write each one as [[station]]"), "{e}");

    // Several problems: all of them, in file order.
    let e = err(
        "icecast = \"http://h:1\"\nsource-password = \"pw-long\"\n[[station]]\nid = \"a\"\nmode = \"x\"\nbitrate = 1\n",
    );
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(lines[0].contains(":5:8: station 'a': mode"), "{e}");
    assert!(lines[1].contains(":6:11: station 'a': bitrate"), "{e}");
}

#[test]
fn the_source_password_may_come_from_the_environment_alone() {
    let env = |n: &str| (n == secrets::SOURCE_PASSWORD_ENV).then(|| "from-env-pw".to_string());
    let f = parse(
        "icecast = \"http://h:1\"\n[[station]]\nid = \"a\"\n",
        "f",
        &env,
    )
    .unwrap();
    assert_eq!(
        f.stations[0].config.output,
        "icecast://source:from-env-pw@h:1/a_relay.aac"
    );
    assert_eq!(f.redactor.text("x from-env-pw"), "x ***");
}

#[test]
fn http_table() {
    let f = ok("[http]\nlisten = \"0.0.0.0:9000\"\ntoken = \"${TOKEN}\"\nrequire-token = true\n");
    assert_eq!(f.http.listen, Some("0.0.0.0:9000".parse().unwrap()));
    assert_eq!(f.http.token.as_deref(), Some("t0ken-t0ken"));
    assert!(f.http.require_token);
    assert!(f.stations.is_empty());
    assert_eq!(f.redactor.text("t0ken-t0ken"), "***");

    let env = |n: &str| (n == secrets::TOKEN_ENV).then(|| "env-token-1".to_string());
    let f = parse("[http]\nlisten = \"127.0.0.1:9000\"\n", "f", &env).unwrap();
    assert_eq!(f.http.token.as_deref(), Some("env-token-1"));

    assert!(
        err("[http]\nlisten = \"localhost\"\n")
            .contains("2:10: listen: 'localhost' is not ADDRESS:PORT")
    );
    assert!(err("[http]\nrequire-token = true\n").contains("require-token = true needs a token"));
    assert!(err("[http]\ntoken = \"short\"\n").contains("at least 8"));
    assert!(err("[http]\nport = 1\n").contains("unknown key 'port' in [http]"));
}

#[test]
fn lines_and_columns() {
    assert_eq!(line_col("ab\ncd\n", 0), (1, 1));
    assert_eq!(line_col("ab\ncd\n", 4), (2, 2));
    assert_eq!(line_col("ab\ncd\n", 99), (3, 1));
}

#[test]
fn the_shipped_example_parses() {
    let text = include_str!("../../../deploy/stations.example.toml");
    let env = |n: &str| (n == "ICECAST_SOURCE_PASSWORD").then(|| "example-pw".to_string());
    let f = parse(text, "stations.example.toml", &env).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = f.stations.iter().map(|s| s.config.id.as_str()).collect();
    assert_eq!(ids, ["jazz", "news", "talk", "show"]);
    // The A/V station: sticky by default, with its ladder.
    assert_eq!(f.stations[3].config.mode, "sticky");
    assert_eq!(f.stations[3].config.ladder.len(), 2);
    assert_eq!(
        f.stations[1].config.output,
        "icecast://source:example-pw@10.0.0.20:8000/news.aac"
    );
    assert_eq!(
        f.stations[2].config.primary,
        "http://10.0.0.31:8000/talk-studio.aac"
    );
    assert_eq!(f.http.listen, Some("127.0.0.1:9000".parse().unwrap()));
}

/// The shards of the Kubernetes example are stations files too.
#[test]
fn the_kubernetes_example_shards_parse() {
    let text = include_str!("../../../deploy/kubernetes.yaml");
    let env = |n: &str| (n == secrets::SOURCE_PASSWORD_ENV).then(|| "k8s-pw".to_string());
    let mut shards = 0;
    // Each `shard-N.toml: |` block, its lines indented by four spaces.
    for block in text.split("toml: |\n").skip(1) {
        let toml: String = block
            .lines()
            .take_while(|l| l.starts_with("    "))
            .map(|l| format!("{}\n", &l[4..]))
            .collect();
        let f = parse(&toml, "shard", &env).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        assert_eq!(f.stations.len(), 2);
        assert_eq!(f.http.listen.map(|a| a.port()), Some(9000));
        shards += 1;
    }
    assert_eq!(shards, 2);
}
