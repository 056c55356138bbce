//! A Slack Incoming Webhook message: `text` for notifications and clients without blocks,
//! and blocks: a header, the quote or note, the facts in two columns, and a context line
//! naming the event, its id and the workspace.
//!
//! Everything that Slack parses as mrkdwn is escaped (`&`, `<`, `>`), so that text from a
//! lead can neither ping a channel (`<!channel>`) nor disguise a link.

use serde_json::{Value, json};

use super::summary::{Fact, Summary};
use super::text::{fit, fit_encoded, one_line, units};

/// Text of a header block.
pub const HEADER_CHARS: usize = 150;
/// Text of a section block, and of any text object.
pub const SECTION_CHARS: usize = 3_000;
/// Each text of a section's fields.
pub const FIELD_CHARS: usize = 2_000;
pub const FIELDS_PER_SECTION: usize = 10;
pub const MAX_BLOCKS: usize = 50;
/// Facts shown; the rest are left out rather than crowding the message.
pub const MAX_FACTS: usize = 20;
const LABEL_CHARS: usize = 100;

/// The most blocks a message has: header, quote, note, the sections of facts, context.
const MOST_BLOCKS: usize = 3 + MAX_FACTS.div_ceil(FIELDS_PER_SECTION) + 1;
const _: () = assert!(MOST_BLOCKS <= MAX_BLOCKS);

pub fn message(summary: &Summary) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": fit(&one_line(&summary.title), HEADER_CHARS),
            "emoji": true
        }
    })];
    if let Some(quote) = &summary.quote {
        blocks.push(section(quoted(quote, SECTION_CHARS)));
    }
    if let Some(note) = &summary.note {
        blocks.push(section(escaped(note, SECTION_CHARS)));
    }
    let facts = &summary.facts[..summary.facts.len().min(MAX_FACTS)];
    for chunk in facts.chunks(FIELDS_PER_SECTION) {
        let fields: Vec<Value> = chunk.iter().map(field).collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": context(summary)}]
    }));

    json!({
        "text": fallback(summary),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false
    })
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn field(fact: &Fact) -> Value {
    let label = escaped(&one_line(&fact.label), LABEL_CHARS);
    let prefix = format!("*{label}*\n");
    let room = FIELD_CHARS - units(&prefix);
    let value = if fact.code && !fact.value.contains(['`', '\n']) {
        format!("`{}`", escaped(&fact.value, room - 2))
    } else {
        escaped(&fact.value, room)
    };
    json!({"type": "mrkdwn", "text": format!("{prefix}{value}")})
}

/// `lead.replied · evt_… · workspace ws_… · 2026-05-24T15:32:11Z`
fn context(summary: &Summary) -> String {
    let mut parts = vec![
        format!("`{}`", summary.event),
        summary.event_id.clone(),
        format!("workspace {}", summary.workspace_id),
    ];
    parts.extend(summary.created_at.clone());
    escaped(&one_line(&parts.join(" · ")), SECTION_CHARS)
}

/// What a notification shows: the title, and the start of the quote.
fn fallback(summary: &Summary) -> String {
    let title = one_line(&summary.title);
    let text = match summary.quote.as_deref().or(summary.note.as_deref()) {
        Some(quote) => format!("{title}: {}", one_line(quote)),
        None => title,
    };
    escaped(&text, SECTION_CHARS)
}

fn escape(grapheme: &str, out: &mut String) {
    for c in grapheme.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

fn escaped(text: &str, limit: usize) -> String {
    fit_encoded(text, limit, escape)
}

/// Every line as a block quote.
fn quoted(text: &str, limit: usize) -> String {
    let body = fit_encoded(text, limit - 1, |grapheme, out| {
        if grapheme == "\n" || grapheme == "\r\n" {
            out.push_str("\n>");
        } else {
            escape(grapheme, out);
        }
    });
    format!(">{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::summary::sample as summary;
    use crate::render::summary::summarize;

    /// Checks a message against the limits of Slack's Block Kit.
    pub fn assert_within_limits(message: &Value) {
        let text_units = |value: &Value| units(value.as_str().unwrap());
        assert!(text_units(&message["text"]) <= SECTION_CHARS);
        let blocks = message["blocks"].as_array().unwrap();
        assert!(!blocks.is_empty() && blocks.len() <= MAX_BLOCKS);
        for block in blocks {
            match block["type"].as_str().unwrap() {
                "header" => {
                    let text = &block["text"]["text"];
                    assert!((1..=HEADER_CHARS).contains(&text_units(text)), "{block}");
                }
                "section" => {
                    if let Some(fields) = block["fields"].as_array() {
                        assert!((1..=FIELDS_PER_SECTION).contains(&fields.len()));
                        for field in fields {
                            let n = text_units(&field["text"]);
                            assert!((1..=FIELD_CHARS).contains(&n), "{field}");
                        }
                    } else {
                        let n = text_units(&block["text"]["text"]);
                        assert!((1..=SECTION_CHARS).contains(&n), "{block}");
                    }
                }
                "context" => {
                    for element in block["elements"].as_array().unwrap() {
                        assert!(text_units(&element["text"]) <= SECTION_CHARS);
                    }
                }
                other => panic!("unexpected block {other}"),
            }
        }
    }

    #[test]
    fn a_reply_has_a_header_a_quote_facts_and_a_context_line() {
        let message = message(&summary(Some("Sure - send a link."), 2, "Northwind"));
        assert_within_limits(&message);
        let blocks = message["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["text"]["text"], "Sarah Chen replied");
        assert_eq!(blocks[1]["text"]["text"], ">Sure - send a link.");
        assert_eq!(blocks[2]["fields"][0]["text"], "*Fact 0*\nNorthwind");
        let context = blocks[3]["elements"][0]["text"].as_str().unwrap();
        assert_eq!(
            context,
            "`lead.replied` · evt_1 · workspace ws_1 · 2026-05-24T15:32:11Z"
        );
        assert_eq!(message["text"], "Sarah Chen replied: Sure - send a link.");
    }

    #[test]
    fn identifiers_are_shown_as_code() {
        let mut summary = summary(None, 0, "");
        summary.facts.push(Fact {
            label: "Lead".into(),
            value: "ld_01J".into(),
            code: true,
        });
        let message = message(&summary);
        assert_eq!(
            message["blocks"][1]["fields"][0]["text"],
            "*Lead*\n`ld_01J`"
        );
    }

    #[test]
    fn multi_line_quotes_quote_every_line() {
        let message = message(&summary(Some("one\ntwo\r\nthree"), 0, ""));
        assert_eq!(message["blocks"][1]["text"]["text"], ">one\n>two\n>three");
    }

    #[test]
    fn text_from_leads_cannot_ping_or_hide_links() {
        let message = message(&summary(
            Some("<!channel> see <https://evil.test|your invoice> & pay"),
            0,
            "",
        ));
        let quote = message["blocks"][1]["text"]["text"].as_str().unwrap();
        assert_eq!(
            quote,
            ">&lt;!channel&gt; see &lt;https://evil.test|your invoice&gt; &amp; pay"
        );
        assert!(!message["text"].as_str().unwrap().contains('<'));
    }

    #[test]
    fn long_text_and_many_facts_stay_within_the_limits() {
        let long = "Ünïcödé ✓ ".repeat(1_000);
        let mut many = summary(Some(&long), 45, &"&".repeat(3_000));
        many.title = "🇫🇷".repeat(200);
        let message = message(&many);
        assert_within_limits(&message);
        let header = message["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(header.ends_with('…') && header.trim_end_matches('…').len().is_multiple_of(8));
        let quote = message["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(
            units(quote) > SECTION_CHARS - 10,
            "cut near the limit, not far below"
        );
        assert!(quote.ends_with('…'));
        assert!(long.starts_with(quote[1..].trim_end_matches('…')));
        let field = message["blocks"][2]["fields"][0]["text"].as_str().unwrap();
        assert!(
            field.trim_end_matches('…').ends_with("&amp;"),
            "an escape is never cut"
        );
        let sections_of_facts = message["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["fields"].is_array())
            .count();
        assert_eq!(sections_of_facts, MAX_FACTS / FIELDS_PER_SECTION);
    }

    #[test]
    fn every_event_type_renders_within_the_limits() {
        for (event, data) in crate::render::tests::samples() {
            let summary = summarize(&crate::render::tests::envelope(event, data));
            let message = message(&summary);
            assert_within_limits(&message);
            let header = message["blocks"][0]["text"]["text"].as_str().unwrap();
            assert_eq!(header, summary.title, "{event}");
        }
    }
}
