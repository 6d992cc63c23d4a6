//! `switchboard call <installation> <method> --param name=value ...`

use std::process::ExitCode;

use crate::call::{CallOptions, call};
use crate::cli::{CallArgs, Global};
use crate::exit::CliResult;
use crate::service;

pub async fn run(global: &Global, args: CallArgs) -> CliResult {
    let (service, inst) = service::open_installation(global, &args.installation, None).await?;
    let ctx = match service.context(inst.id).await {
        Ok(ctx) => ctx,
        Err(err) => return Err(service::refused(&service, inst.id, err).await),
    };
    let opts = CallOptions {
        method: args.method,
        params: args.params,
        all: args.all,
        file: args.file,
        out: args.out,
        columns: args.columns,
    };
    call(service.engine(), &ctx, &opts, global.output).await?;
    Ok(ExitCode::SUCCESS)
}
