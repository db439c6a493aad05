//! Located diagnostics: every problem with file:line:col, the offending
//! snippet and a hint, all collected in one pass.

use std::fmt;

use super::yaml::Span;

/// How bad a problem is. Only errors stop a workspace from loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// One problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// What is wrong, one line.
    pub message: String,
    /// Where; `None` for problems not tied to a place (a missing file given
    /// on the command line).
    pub span: Option<Span>,
    /// Short text shown under the snippet.
    pub label: Option<String>,
    /// What to do about it ("did you mean `Account_Name`?").
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(span: &Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: Some(span.clone()),
            label: None,
            hint: None,
        }
    }

    pub fn warning(span: &Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    pub fn note(span: Option<&Span>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Note,
            message: message.into(),
            span: span.cloned(),
            label: None,
            hint: None,
        }
    }

    /// An error with no place in a file.
    pub fn global(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: None,
            label: None,
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_hint_opt(mut self, hint: Option<String>) -> Diagnostic {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    /// `file:line:col`, or `-` when the problem has no place.
    pub fn location(&self) -> String {
        self.span
            .as_ref()
            .map(Span::location)
            .unwrap_or_else(|| "-".into())
    }

    /// As JSON for tools: severity, message, location (`file:line:col`),
    /// hint.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "severity": self.severity.as_str(),
            "message": self.message,
            "location": self.span.as_ref().map(Span::location),
            "hint": self.hint,
        })
    }

    /// One line: `file:line:col: error: message (hint)`.
    pub fn short(&self) -> String {
        let mut s = format!(
            "{}: {}: {}",
            self.location(),
            self.severity.as_str(),
            self.message
        );
        if let Some(h) = &self.hint {
            s.push_str(&format!(" ({h})"));
        }
        s
    }
}

/// All problems found, in the order found (sorted by file and position when
/// rendered).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Diagnostics {
        Diagnostics::default()
    }

    pub fn push(&mut self, d: Diagnostic) {
        if !self.items.contains(&d) {
            self.items.push(d);
        }
    }

    pub fn extend(&mut self, other: Diagnostics) {
        for d in other.items {
            self.push(d);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    /// Sorted by severity, then file and position.
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let mut v: Vec<&Diagnostic> = self.items.iter().collect();
        v.sort_by_key(|d| {
            (
                d.severity,
                d.span.as_ref().map(|s| s.file.name.clone()),
                d.span.as_ref().map(|s| s.offset),
            )
        });
        v
    }

    /// One line per problem (`file:line:col: error: message (hint)`).
    pub fn render_short(&self) -> String {
        let mut out = String::new();
        for d in self.sorted() {
            out.push_str(&d.short());
            out.push('\n');
        }
        out
    }

    /// Every problem with its snippet, underline and hint (miette's
    /// graphical report), optionally coloured.
    pub fn render(&self, color: bool) -> String {
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
        let mut out = String::new();
        for d in self.sorted() {
            let report = Report {
                diag: d,
                source: d
                    .span
                    .as_ref()
                    .map(|s| miette::NamedSource::new(s.file.name.clone(), s.file.text.clone())),
            };
            if handler.render_report(&mut out, &report).is_err() {
                out.push_str(&d.short());
                out.push('\n');
            }
        }
        out
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render_short().trim_end())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Diagnostics {
        Diagnostics { items: vec![d] }
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// Adapter rendering one [`Diagnostic`] through miette.
struct Report<'a> {
    diag: &'a Diagnostic,
    source: Option<miette::NamedSource<String>>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Note => miette::Severity::Advice,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diag
            .hint
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let span = self.diag.span.as_ref()?;
        let label = miette::LabeledSpan::new(self.diag.label.clone(), span.offset, span.len);
        Some(Box::new(std::iter::once(label)))
    }
}

/// "did you mean `x`?" for the candidate closest to `word`, if one is close.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The candidate closest to `word`, if any is close enough.
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = if c.to_lowercase() == lower {
            2.0
        } else {
            let d = strsim::normalized_damerau_levenshtein(&lower, &c.to_lowercase());
            let j = strsim::jaro_winkler(&lower, &c.to_lowercase());
            d.max(j - 0.1)
        };
        if score >= 0.7 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `a`, `b` and `c` (at most `max`, then "…").
pub fn one_of<'a, I>(items: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    let items: Vec<&str> = items.into_iter().collect();
    let shown: Vec<String> = items.iter().take(12).map(|s| format!("`{s}`")).collect();
    let mut s = shown.join(", ");
    if items.len() > 12 {
        s.push_str(&format!(", … ({} in all)", items.len()));
    }
    s
}
