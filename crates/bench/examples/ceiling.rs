// Scratch: the ceiling of live replication with null consumers.
use std::time::{Duration, Instant};
use async_nats::jetstream::{self, consumer::{pull, AckPolicy, DeliverPolicy}, AckKind};
use futures::StreamExt as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("consume") {
        return consume(&args[2], &args[3], &args[4], args[5].parse()?).await;
    }
    let n: usize = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(1_000_000);
    let policy = args.get(2).cloned().unwrap_or("all".into());
    let nodes: usize = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(2);
    let nats = pagefeed_testkit::nats::NatsServer::start().await?;
    let js = pagefeed_e2e::jetstream_at(&nats.url()).await?;
    js.create_stream(jetstream::stream::Config { name: "PAGEFEED_EVENTS".into(), subjects: vec!["pagefeed.events.>".into()], ..Default::default() }).await?;
    let msgs = pagefeed_bench::projector::entry_events_pub(n);
    let t = Instant::now();
    publish(&js, &msgs).await?;
    let alone = t.elapsed();
    eprintln!("alone {:.0}/s", n as f64 / alone.as_secs_f64());
    js.delete_stream("PAGEFEED_EVENTS").await?;
    js.create_stream(jetstream::stream::Config { name: "PAGEFEED_EVENTS".into(), subjects: vec!["pagefeed.events.>".into()], ..Default::default() }).await?;
    let exe = std::env::current_exe()?;
    let mut kids = Vec::new();
    for i in 0..nodes {
        kids.push(std::process::Command::new(&exe).args(["consume", &nats.url(), &format!("n{i}"), &policy, &n.to_string()]).spawn()?);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t = Instant::now();
    publish(&js, &msgs).await?;
    let p = t.elapsed();
    for k in &mut kids { k.wait()?; }
    let all = t.elapsed();
    eprintln!("with {nodes} null nodes ({policy}): publish {:.0}/s, all read {:.0}/s = {:.2} of alone", n as f64 / p.as_secs_f64(), n as f64 / all.as_secs_f64(), alone.as_secs_f64()/all.as_secs_f64());
    Ok(())
}

async fn publish(js: &jetstream::Context, msgs: &[pagefeed_events::publish::Outgoing]) -> anyhow::Result<()> {
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut s = futures::stream::iter(msgs.chunks(1000)).map(|c| pagefeed_events::publish::publish_all(js, c, &cancel)).buffer_unordered(4);
    while let Some(r) = s.next().await { r?; }
    Ok(())
}

async fn consume(url: &str, node: &str, policy: &str, n: u64) -> anyhow::Result<()> {
    let js = pagefeed_e2e::jetstream_at(url).await?;
    let stream = js.get_stream("PAGEFEED_EVENTS").await?;
    let c = stream.create_consumer(pull::Config {
        durable_name: Some(node.into()),
        deliver_policy: DeliverPolicy::All,
        ack_policy: if policy == "none" { AckPolicy::None } else { AckPolicy::All },
        max_ack_pending: 100_000,
        filter_subject: "pagefeed.events.>".into(),
        ..Default::default()
    }).await?;
    let mut m = c.stream().max_messages_per_batch(5000).messages().await?;
    let mut count = 0u64;
    let mut bytes = 0usize;
    loop {
        let msg = m.next().await.unwrap()?;
        count += 1;
        bytes += msg.payload.len();
        let seq = msg.info().map_err(|e| anyhow::anyhow!("{e}"))?.stream_sequence;
        if policy != "none" && (count % 1000 == 0 || seq >= n) { msg.ack_with(AckKind::Ack).await.map_err(|e| anyhow::anyhow!("{e}"))?; }
        if seq >= n { break; }
    }
    eprintln!("{node}: {count} msgs {bytes} bytes");
    Ok(())
}
