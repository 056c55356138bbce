//! A Discord webhook message: one embed with the title, the quote or note as its
//! description, the facts as fields, the event's time, and a footer naming the event, its
//! id and the workspace.
//!
//! Markdown in the description and field values, where text from leads goes, is escaped
//! so that it cannot disguise a link, and the message allows no mentions at all.

use serde_json::{Value, json};

use super::summary::{Fact, Summary, Tone};
use super::text::{fit, fit_encoded, one_line, units};

pub const TITLE_CHARS: usize = 256;
pub const DESCRIPTION_CHARS: usize = 4_096;
pub const FIELD_NAME_CHARS: usize = 256;
pub const FIELD_VALUE_CHARS: usize = 1_024;
pub const MAX_FIELDS: usize = 25;
pub const FOOTER_CHARS: usize = 2_048;
/// Title, description, field names and values, and footer text together.
pub const EMBED_CHARS: usize = 6_000;
/// Room kept for the description before fields take the rest of the total.
const DESCRIPTION_RESERVE: usize = 1_000;
/// Values up to this long sit side by side.
const INLINE_CHARS: usize = 40;

pub fn message(summary: &Summary) -> Value {
    // Titles and field names show markdown only in part and never a link or a mention,
    // and a backslash would show as it is: they are sent as they are.
    let title = fit(&one_line(&summary.title), TITLE_CHARS);
    let footer = fit(&footer(summary), FOOTER_CHARS);
    let mut used = units(&title) + units(&footer);

    // Fields take what the description leaves, so that a long quote is cut before any
    // fact is dropped, and many long facts cannot crowd out the quote.
    let reserve =
        description(summary, DESCRIPTION_CHARS).map_or(0, |d| units(&d).min(DESCRIPTION_RESERVE));
    let mut fields = Vec::new();
    for fact in summary.facts.iter().take(MAX_FIELDS) {
        let (name, value) = field(fact);
        let size = units(&name) + units(&value);
        if used + size + reserve > EMBED_CHARS {
            break;
        }
        used += size;
        let inline = units(&value) <= INLINE_CHARS;
        fields.push(json!({"name": name, "value": value, "inline": inline}));
    }

    let mut embed = json!({
        "title": title,
        "color": colour(summary.tone),
        "footer": {"text": footer},
    });
    let room = DESCRIPTION_CHARS.min(EMBED_CHARS.saturating_sub(used));
    if let Some(description) = description(summary, room) {
        embed["description"] = Value::String(description);
    }
    if !fields.is_empty() {
        embed["fields"] = Value::Array(fields);
    }
    if let Some(at) = summary
        .created_at
        .as_deref()
        .filter(|at| chrono::DateTime::parse_from_rfc3339(at).is_ok())
    {
        embed["timestamp"] = Value::String(at.to_owned());
    }
    json!({
        "embeds": [embed],
        "allowed_mentions": {"parse": []}
    })
}

/// The quote and the note within `limit`; the note, being short, is kept whole first.
fn description(summary: &Summary, limit: usize) -> Option<String> {
    let note = summary
        .note
        .as_deref()
        .map(|note| escaped(note, limit))
        .filter(|note| !note.is_empty());
    let quote_room = note
        .as_deref()
        .map_or(limit, |note| limit.saturating_sub(units(note) + 2));
    let quote = summary
        .quote
        .as_deref()
        .and_then(|quote| quoted(quote, quote_room));
    match (quote, note) {
        (Some(quote), Some(note)) => Some(format!("{quote}\n\n{note}")),
        (one, other) => one.or(other),
    }
}

fn field(fact: &Fact) -> (String, String) {
    let name = fit(&one_line(&fact.label), FIELD_NAME_CHARS);
    let value = if fact.code && !fact.value.contains(['`', '\n']) {
        // Nothing inside inline code is markdown.
        format!("`{}`", fit(&fact.value, FIELD_VALUE_CHARS - 2))
    } else if is_link(&fact.value) {
        // Escaping inside a URL would break the link; a bare URL cannot hide another.
        fit(&fact.value, FIELD_VALUE_CHARS)
    } else {
        escaped(&fact.value, FIELD_VALUE_CHARS)
    };
    (name, value)
}

fn is_link(text: &str) -> bool {
    (text.starts_with("https://") || text.starts_with("http://"))
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>')
}

fn footer(summary: &Summary) -> String {
    one_line(&format!(
        "{} · {} · workspace {}",
        summary.event, summary.event_id, summary.workspace_id
    ))
}

fn colour(tone: Tone) -> u32 {
    match tone {
        Tone::Good => 0x2e_b6_7d,
        Tone::Info => 0x36_c5_f0,
        Tone::Warning => 0xec_b2_2e,
        Tone::Bad => 0xe0_1e_5a,
        Tone::Neutral => 0x97_9c_a3,
    }
}

/// Characters that Discord's markdown gives a meaning; a backslash shows them as they are.
fn escape(grapheme: &str, out: &mut String) {
    for c in grapheme.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '(' | ')' | '<' | '>' | '#' | '@'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
}

fn escaped(text: &str, limit: usize) -> String {
    fit_encoded(text, limit, escape)
}

/// Every line as a block quote; `None` when not even the start of it fits.
fn quoted(text: &str, limit: usize) -> Option<String> {
    let body = fit_encoded(text, limit.checked_sub(2)?, |grapheme, out| {
        if grapheme == "\n" || grapheme == "\r\n" {
            out.push_str("\n> ");
        } else {
            escape(grapheme, out);
        }
    });
    Some(format!("> {body}")).filter(|_| !body.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::summary::sample as summary;
    use crate::render::summary::summarize;

    /// Checks a message against Discord's embed limits.
    pub fn assert_within_limits(message: &Value) {
        let embeds = message["embeds"].as_array().unwrap();
        assert_eq!(embeds.len(), 1);
        let embed = &embeds[0];
        let length = |value: &Value| value.as_str().map_or(0, units);
        let title = length(&embed["title"]);
        assert!((1..=TITLE_CHARS).contains(&title));
        let description = length(&embed["description"]);
        assert!(description <= DESCRIPTION_CHARS);
        let footer = length(&embed["footer"]["text"]);
        assert!((1..=FOOTER_CHARS).contains(&footer));
        let mut total = title + description + footer;
        if let Some(fields) = embed["fields"].as_array() {
            assert!(fields.len() <= MAX_FIELDS);
            for field in fields {
                let name = length(&field["name"]);
                let value = length(&field["value"]);
                assert!((1..=FIELD_NAME_CHARS).contains(&name), "{field}");
                assert!((1..=FIELD_VALUE_CHARS).contains(&value), "{field}");
                total += name + value;
            }
        }
        assert!(total <= EMBED_CHARS, "{total} characters in all");
        assert_eq!(message["allowed_mentions"]["parse"], json!([]));
    }

    #[test]
    fn a_reply_is_one_embed_with_quote_fields_time_and_footer() {
        let message = message(&summary(Some("Sure - send a link."), 2, "Northwind"));
        assert_within_limits(&message);
        let embed = &message["embeds"][0];
        assert_eq!(embed["title"], "Sarah Chen replied");
        assert_eq!(embed["description"], "> Sure - send a link.");
        assert_eq!(
            embed["fields"][0],
            json!({"name": "Fact 0", "value": "Northwind", "inline": true})
        );
        assert_eq!(embed["timestamp"], "2026-05-24T15:32:11Z");
        assert_eq!(
            embed["footer"]["text"],
            "lead.replied · evt_1 · workspace ws_1"
        );
        assert_eq!(embed["color"], colour(Tone::Good));
    }

    #[test]
    fn markdown_and_mentions_from_leads_are_escaped_but_links_kept() {
        let mut summary = summary(Some("[invoice](https://evil.test) @everyone *now*"), 0, "");
        summary.facts.push(Fact {
            label: "LinkedIn".into(),
            value: "https://www.linkedin.com/in/sarah_chen".into(),
            code: false,
        });
        summary.facts.push(Fact {
            label: "Lead".into(),
            value: "ld_01J".into(),
            code: true,
        });
        let message = message(&summary);
        let embed = &message["embeds"][0];
        assert_eq!(
            embed["description"],
            r"> \[invoice\]\(https://evil.test\) \@everyone \*now\*"
        );
        assert_eq!(
            embed["fields"][0]["value"],
            "https://www.linkedin.com/in/sarah_chen"
        );
        assert_eq!(
            embed["fields"][1]["value"], "`ld_01J`",
            "identifiers as code"
        );
    }

    #[test]
    fn a_bad_timestamp_is_left_out_rather_than_refused() {
        let mut summary = summary(None, 1, "x");
        summary.created_at = Some("yesterday".into());
        let message = message(&summary);
        assert!(message["embeds"][0].get("timestamp").is_none());
        assert!(message["embeds"][0].get("description").is_none());
    }

    #[test]
    fn long_text_and_many_facts_stay_within_the_limits() {
        let long = "Grüße 👋🏽 ".repeat(2_000);
        for facts in [0, 3, 40] {
            let mut many = summary(Some(&long), facts, &"ñ".repeat(2_000));
            many.title = "x".repeat(1_000);
            let message = message(&many);
            assert_within_limits(&message);
            let embed = &message["embeds"][0];
            let description = embed["description"].as_str().unwrap();
            assert!(description.ends_with('…'));
            assert!(units(description) >= DESCRIPTION_RESERVE.min(units(&long)));
            let kept = description.trim_start_matches("> ").trim_end_matches('…');
            assert!(long.starts_with(kept), "cut on a grapheme boundary");
            let title = embed["title"].as_str().unwrap();
            assert_eq!(units(title), TITLE_CHARS);
        }
    }

    #[test]
    fn a_cut_never_leaves_a_dangling_backslash() {
        let escaped_text = "*".repeat(5_000);
        let mut long = summary(Some(&escaped_text), 25, &"v".repeat(FIELD_VALUE_CHARS));
        long.title = "t".into();
        let message = message(&long);
        assert_within_limits(&message);
        let description = message["embeds"][0]["description"].as_str().unwrap();
        let kept = description.trim_start_matches("> ").trim_end_matches('…');
        assert!(
            kept.len().is_multiple_of(2) && kept.ends_with(r"\*"),
            "{description}"
        );
    }

    #[test]
    fn every_event_type_renders_within_the_limits() {
        for (event, data) in crate::render::tests::samples() {
            let summary = summarize(&crate::render::tests::envelope(event, data));
            let message = message(&summary);
            assert_within_limits(&message);
            assert_eq!(message["embeds"][0]["title"], summary.title, "{event}");
        }
    }
}
