//! Try the tools without the komar binary:
//! `cargo run -p komar-tools --example komar-tool -- sub -t 'a/#' -v`.

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: komar-tool pub|sub|rr [mosquitto options]");
        std::process::exit(1);
    }
    let tool = args.remove(0);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(async move {
        match tool.as_str() {
            "pub" => komar_tools::pub_main(args).await,
            "sub" => komar_tools::sub_main(args).await,
            "rr" => komar_tools::rr_main(args).await,
            other => {
                eprintln!("unknown tool {other:?}");
                1
            }
        }
    });
    std::process::exit(code);
}
