//! The command line as users type it parses into the commands `tutti` runs (flags, repeats,
//! conflicts), checked through clap without a server.

use clap::Parser;
use tutti_cli::Command;
use tutti_cli::output::object::Format;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn parse(line: &str) -> Result<Command, clap::Error> {
    Cli::try_parse_from(std::iter::once("tutti").chain(line.split_whitespace())).map(|c| c.command)
}

#[test]
fn apply_takes_repeated_files_and_stdin() {
    let Ok(Command::Apply(a)) = parse("apply -f a.yaml -f dir -f - -n prod") else {
        panic!("apply did not parse")
    };
    let files: Vec<String> = a
        .filenames
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(files, ["a.yaml", "dir", "-"]);
    assert_eq!(a.namespace.namespace.as_deref(), Some("prod"));
    assert!(parse("apply").is_err(), "apply needs -f");
}

#[test]
fn get_takes_types_names_and_output_flags() {
    let Ok(Command::Get(g)) = parse("get deploy,svc nginx -A -l app=web -o wide -w") else {
        panic!("get did not parse")
    };
    assert_eq!(g.args, ["deploy,svc", "nginx"]);
    assert!(g.all_namespaces && g.watch);
    assert_eq!(
        (g.selector.as_deref(), g.output),
        (Some("app=web"), Some(Format::Wide))
    );
    assert!(
        parse("get pods -o table").is_err(),
        "unknown output formats are refused"
    );
    assert!(parse("get").is_err());
}

#[test]
fn delete_takes_names_or_files_but_not_both() {
    let Ok(Command::Delete(d)) = parse("delete deploy nginx web --ignore-not-found") else {
        panic!("delete did not parse")
    };
    assert_eq!(d.args, ["deploy", "nginx", "web"]);
    assert!(d.ignore_not_found);
    let Ok(Command::Delete(d)) = parse("delete -f seed-demo.yaml") else {
        panic!("delete -f did not parse")
    };
    assert_eq!(d.filenames.len(), 1);
    assert!(parse("delete pods web -f x.yaml").is_err());
}

#[test]
fn describe_and_version_parse() {
    let Ok(Command::Describe(d)) = parse("describe deploy nginx -n web") else {
        panic!("describe did not parse")
    };
    assert_eq!(
        (d.args.len(), d.namespace.namespace.as_deref()),
        (2, Some("web"))
    );
    let Ok(Command::Version(v)) = parse("version --client") else {
        panic!("version did not parse")
    };
    assert!(v.client);
}
