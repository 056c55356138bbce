//! Cutting text to a chat service's limit. Lengths are counted in UTF-16 code units, never
//! fewer than the characters a service counts, so a fitted text is within the limit however
//! the service measures it. Text is cut between grapheme clusters (a flag, a family emoji or
//! a letter with its accents stays whole), never inside an escape, and the cut is marked
//! with an ellipsis.

use unicode_segmentation::UnicodeSegmentation;

pub const ELLIPSIS: &str = "…";

/// The length a service sees.
pub fn units(text: &str) -> usize {
    text.encode_utf16().count()
}

/// `text` unchanged when it fits in `limit`, else cut with an ellipsis.
pub fn fit(text: &str, limit: usize) -> String {
    fit_encoded(text, limit, |grapheme, out| out.push_str(grapheme))
}

/// `text` with each grapheme written by `encode` (an escape, a line prefix), at most
/// `limit` units long in its encoded form. An encoded grapheme is kept or dropped whole.
pub fn fit_encoded(text: &str, limit: usize, encode: impl Fn(&str, &mut String)) -> String {
    let mut out = String::with_capacity(text.len().min(limit.saturating_mul(4)));
    // After each grapheme: the output's length in bytes and units, and whether it was
    // white space, so that a cut does not leave white space before the ellipsis.
    let mut marks: Vec<(usize, usize, bool)> = Vec::new();
    let mut used = 0;
    let mut complete = true;
    for grapheme in text.graphemes(true) {
        let start = out.len();
        encode(grapheme, &mut out);
        used += units(&out[start..]);
        marks.push((out.len(), used, grapheme.trim().is_empty()));
        // Past the limit plus one ellipsis nothing more can be kept.
        if used > limit.saturating_add(units(ELLIPSIS)) {
            complete = false;
            break;
        }
    }
    if complete && used <= limit {
        return out;
    }

    let room = limit.saturating_sub(units(ELLIPSIS));
    let mut keep = marks.partition_point(|&(_, units, _)| units <= room);
    while keep > 0 && marks[keep - 1].2 {
        keep -= 1;
    }
    if limit < units(ELLIPSIS) {
        return String::new();
    }
    out.truncate(keep.checked_sub(1).map_or(0, |i| marks[i].0));
    out.push_str(ELLIPSIS);
    out
}

/// One line: runs of white space, line breaks included, become one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amp(grapheme: &str, out: &mut String) {
        if grapheme == "&" {
            out.push_str("&amp;");
        } else {
            out.push_str(grapheme);
        }
    }

    #[test]
    fn text_within_the_limit_is_unchanged() {
        assert_eq!(fit("hello", 5), "hello");
        assert_eq!(fit("", 5), "");
        assert_eq!(fit("héllo", 5), "héllo");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis_within_the_limit() {
        let cut = fit("hello world", 8);
        assert_eq!(cut, "hello w…");
        assert_eq!(units(&cut), 8);
        assert_eq!(
            fit("hello world", 7),
            "hello…",
            "no space before the ellipsis"
        );
        assert_eq!(fit("hello", 1), "…");
        assert_eq!(fit("hello", 0), "");
    }

    #[test]
    fn multi_byte_characters_are_never_split() {
        let text = "é".repeat(5_000);
        let cut = fit(&text, 3_000);
        assert_eq!(units(&cut), 3_000);
        assert!(cut.ends_with(ELLIPSIS));
        assert!(cut.trim_end_matches(ELLIPSIS).chars().all(|c| c == 'é'));
    }

    #[test]
    fn characters_outside_the_basic_plane_count_as_two_units() {
        let text = "😀".repeat(10);
        let cut = fit(&text, 7);
        assert_eq!(cut, "😀😀😀…");
        assert_eq!(units(&cut), 7);
    }

    #[test]
    fn grapheme_clusters_stay_whole() {
        // A family (four people joined by zero-width joiners), flags and an accent that
        // is a separate combining character: each is one grapheme of several characters.
        let family = "👨\u{200d}👩\u{200d}👧\u{200d}👦";
        let text = format!("ab{family}{family}");
        for limit in 3..units(&text) {
            let cut = fit(&text, limit);
            let kept = cut.trim_end_matches(ELLIPSIS);
            assert!(
                kept == "ab" || kept == format!("ab{family}"),
                "limit {limit}: {cut:?}"
            );
            assert!(units(&cut) <= limit);
        }
        let flags = "🇫🇷🇩🇪🇯🇵";
        for limit in 1..units(flags) {
            let kept = fit(flags, limit).trim_end_matches(ELLIPSIS).to_owned();
            assert_eq!(kept.chars().count() % 2, 0, "limit {limit}: {kept:?}");
        }
        let accented = "cafe\u{301}s";
        assert_eq!(fit(accented, 5), "caf…");
    }

    #[test]
    fn escapes_are_counted_and_never_cut() {
        let text = "a&b&c";
        assert_eq!(fit_encoded(text, 100, amp), "a&amp;b&amp;c");
        for limit in 0..13 {
            let cut = fit_encoded(text, limit, amp);
            assert!(units(&cut) <= limit, "{limit}: {cut}");
            let kept = cut.trim_end_matches(ELLIPSIS);
            assert!(
                !kept.ends_with('&') && !kept.ends_with("&a") && !kept.ends_with("&amp"),
                "{limit}: {cut}"
            );
        }
        assert_eq!(fit_encoded(text, 7, amp), "a&amp;…");
    }

    #[test]
    fn line_breaks_and_runs_of_spaces_collapse_to_one_line() {
        assert_eq!(one_line("  Sarah \n\n Chen\t"), "Sarah Chen");
    }
}
