//! The Japanese word lists entries are made of, and an entry's text.

use super::*;

// Word lists: every character is in JIS X 0208, so Shift_JIS, EUC-JP and
// ISO-2022-JP encode them without loss (a unit test checks).
pub(super) const WHEN: &[&str] = &[
    "今日",
    "昨日",
    "週末",
    "日曜日",
    "土曜日",
    "今朝",
    "先週",
    "連休",
];
pub(super) const WHO: &[&str] = &[
    "友達",
    "家族",
    "会社の先輩",
    "妹",
    "兄",
    "大学の同期",
    "彼女",
    "母",
    "同僚",
    "幼なじみ",
];
pub(super) const PLACE: &[&str] = &[
    "渋谷",
    "新宿",
    "池袋",
    "横浜",
    "京都",
    "大阪",
    "札幌",
    "吉祥寺",
    "下北沢",
    "鎌倉",
    "福岡",
    "名古屋",
    "神戸",
    "仙台",
];
pub(super) const FOOD: &[&str] = &[
    "ラーメン",
    "お寿司",
    "カレー",
    "焼き肉",
    "ケーキ",
    "うどん",
    "そば",
    "たこ焼き",
    "パスタ",
    "天ぷら",
    "お好み焼き",
    "ハンバーグ",
];
pub(super) const ACTIVITY: &[&str] = &[
    "買い物をしました",
    "映画を見ました",
    "散歩をしました",
    "美術館に行きました",
    "カラオケで歌いました",
    "公園でのんびりしました",
];
pub(super) const HOBBY: &[&str] = &[
    "写真",
    "料理",
    "ジョギング",
    "読書",
    "映画鑑賞",
    "ギター",
    "将棋",
    "英会話",
    "登山",
    "釣り",
    "温泉めぐり",
    "ヨガ",
];
pub(super) const WEATHER: &[&str] = &[
    "いい天気",
    "雨",
    "雪",
    "曇り",
    "とても暑い日",
    "とても寒い日",
];
pub(super) const SHOP: &[&str] = &["喫茶店", "本屋", "パン屋", "居酒屋", "雑貨屋", "古着屋"];
pub(super) const TECH: &[&str] = &["Rust", "NATS", "Erlang", "Linux", "GitHub", "Python"];
pub(super) const FEELING: &[&str] = &[
    "とても楽しかったです。",
    "また行きたいと思います。",
    "少し疲れました。",
    "明日も頑張ります。",
    "久しぶりにゆっくりできました。",
    "みんな元気そうでよかったです。",
    "写真をたくさん撮りました。",
    "来月もまた会う約束をしました。",
];
pub(super) const COMMUNITIES: &[&str] = &[
    "ラーメン大好き",
    "写真部",
    "猫好きの集い",
    "京都が好き",
    "週末ランナー",
    "映画好き集まれ",
    "カレー同好会",
    "温泉めぐりの会",
    "読書の時間",
    "将棋を指そう",
    "ギター弾き語り",
    "登山部",
];

/// 2 to 4 sentences, chosen by a PRNG seeded from (id, k).
pub(super) fn write_entry_text(out: &mut String, id: u64, k: u64) {
    let mut rng = SplitMix64(mix64(id) ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let sentences = 2 + rng.below(3);
    for _ in 0..sentences {
        match rng.below(10) {
            0 | 1 => {
                let (when, who, place, food) = (
                    rng.pick(WHEN),
                    rng.pick(WHO),
                    rng.pick(PLACE),
                    rng.pick(FOOD),
                );
                let _ = write!(out, "{when}は{who}と{place}で{food}を食べました。");
            }
            2 => {
                let (when, who, place, what) = (
                    rng.pick(WHEN),
                    rng.pick(WHO),
                    rng.pick(PLACE),
                    rng.pick(ACTIVITY),
                );
                let _ = write!(out, "{when}は{who}と{place}で{what}。");
            }
            3 => {
                let _ = write!(out, "最近は{}にはまっています。", rng.pick(HOBBY));
            }
            4 => {
                let (place, shop) = (rng.pick(PLACE), rng.pick(SHOP));
                let _ = write!(out, "{place}の{shop}はいつも混んでいますね。");
            }
            5 => {
                let (when, weather) = (rng.pick(WHEN), rng.pick(WEATHER));
                let _ = write!(out, "{when}は{weather}でした。");
            }
            6 | 7 => out.push_str(rng.pick(FEELING)),
            8 => {
                let _ = write!(out, "来週は{}に行く予定です。", rng.pick(PLACE));
            }
            _ => {
                let tech = rng.pick(TECH);
                if rng.below(2) == 0 {
                    let _ = write!(out, "仕事で{tech}を使ってみました。");
                } else {
                    let _ = write!(out, "{tech}の勉強会に参加しました。");
                }
            }
        }
    }
}
