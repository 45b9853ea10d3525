fn main() {
    let msgs = pagefeed_bench::projector::entry_events_pub(20000);
    let (mut json, mut bin) = (0usize, 0usize);
    for m in &msgs {
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        let text = v["text"].as_str().unwrap();
        let link = v["link"].as_str().unwrap();
        let page = v["page"].as_str().unwrap();
        let id = v["id"].as_str().unwrap();
        let obs = v["observed_at"].as_str().unwrap();
        let ts = v["timestamp"].as_str().unwrap();
        let j = serde_json::json!({"id": id, "page": page, "text": text, "timestamp": ts, "link": link, "first_seen": obs, "last_seen": obs});
        json += serde_json::to_string(&j).unwrap().len();
        // postcard: len varint + bytes, Option tag, (i64 zigzag, u32) pairs
        bin += text.len() + 2 + link.len() + 1 + 1 + 1 + 3 * 10;
    }
    println!("json {} postcard~ {} ratio {:.2}", json / msgs.len(), bin / msgs.len(), bin as f64 / json as f64);
}
