//! `rehearse review RUN` (a local labelling page) and `rehearse agreement
//! RUN` (the machine's agreement with those labels).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::exit;
use crate::reporting::agreement;
use crate::review::Server;
use crate::run_folder::write_atomic;

#[derive(Args, Debug)]
pub struct ReviewArgs {
    /// The run directory (holds run.json).
    run: PathBuf,
    /// Where to listen: loopback only.
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// The reviewer's name on the labels (the page can change it).
    #[arg(long, env = "USER", default_value = "")]
    reviewer: String,
}

#[derive(Args, Debug)]
pub struct AgreementArgs {
    /// The run directory (holds run.json and labels.jsonl).
    run: PathBuf,
}

pub async fn review(args: ReviewArgs) -> u8 {
    let server = match Server::bind(&args.run, args.listen, &args.reviewer).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::CONFIG_ERROR;
        }
    };
    println!("review: http://{}/", server.addr);
    eprintln!(
        "labels are saved to {} as you make them; Ctrl-C stops the server",
        args.run.join(crate::run_folder::LABELS).display()
    );
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match server.serve(stop).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit::RUN_ERROR
        }
    }
}

pub fn agreement(args: AgreementArgs) -> u8 {
    let items = match crate::reporting::agreement_of_run(&args.run) {
        Ok(items) => items,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::CONFIG_ERROR;
        }
    };
    if items.is_empty() {
        eprintln!(
            "no labels in {}: label calls with `rehearse review {}`",
            args.run.display(),
            args.run.display()
        );
        return exit::OK;
    }
    let md = agreement::markdown(&items);
    let json = serde_json::to_vec_pretty(&items).unwrap_or_default();
    for (name, bytes) in [
        ("agreement.md", md.as_bytes()),
        ("agreement.json", &json[..]),
    ] {
        if let Err(e) = write_atomic(&args.run.join(name), bytes) {
            eprintln!("error: {name}: {e}");
            return exit::RUN_ERROR;
        }
    }
    print!("{md}");
    exit::OK
}
