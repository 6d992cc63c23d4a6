//! `switchboard call <installation> <method> --param name=value ...`

use std::process::ExitCode;

use switchboard_core::Result;

use crate::call::{CallOptions, call};
use crate::cli::{CallArgs, Global};
use crate::service::{self, installation_id};

pub async fn run(global: &Global, args: CallArgs) -> Result<ExitCode> {
    let id = installation_id(&args.installation)?;
    let service = service::open(global, None).await?;
    let ctx = service.context(id).await?;
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
