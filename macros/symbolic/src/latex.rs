//! Plain-ASCII LaTeX from the project's Unicode text: derivation traces and notes are written
//! with Greek letters, `·`, `∂`, superscripts and the like, which pdfLaTeX rejects and KaTeX warns
//! about in strict mode. [`latex_text`] turns such a string into text-mode LaTeX (the characters
//! TeX reserves escaped, every symbol as inline math `$…$`), [`latex_math`] into math-mode LaTeX;
//! both give ASCII only (an unknown character becomes `\textbf{?}`, which a test rules out for
//! everything the project prints).

/// The math-mode command of a non-ASCII character (`None`: unknown). Superscripts and subscripts
/// are handled apart ([`script`]).
fn symbol(c: char) -> Option<&'static str> {
    Some(match c {
        'α' => "\\alpha",
        'β' => "\\beta",
        'γ' => "\\gamma",
        'δ' => "\\delta",
        'ε' => "\\varepsilon",
        'ζ' => "\\zeta",
        'η' => "\\eta",
        'θ' => "\\theta",
        'κ' => "\\kappa",
        'λ' => "\\lambda",
        'μ' => "\\mu",
        'ν' => "\\nu",
        'ξ' => "\\xi",
        'π' => "\\pi",
        'ρ' => "\\rho",
        'σ' => "\\sigma",
        'τ' => "\\tau",
        'φ' => "\\varphi",
        'χ' => "\\chi",
        'ψ' => "\\psi",
        'ω' => "\\omega",
        'Γ' => "\\Gamma",
        'Δ' => "\\Delta",
        'Θ' => "\\Theta",
        'Λ' => "\\Lambda",
        'Σ' => "\\Sigma",
        'Φ' => "\\Phi",
        'Ψ' => "\\Psi",
        'Ω' => "\\Omega",
        '·' => "\\cdot",
        '×' => "\\times",
        '∂' => "\\partial",
        '−' => "-",
        '±' => "\\pm",
        '≤' => "\\le",
        '≥' => "\\ge",
        '≠' => "\\ne",
        '≈' => "\\approx",
        '→' => "\\to",
        '∞' => "\\infty",
        '∈' => "\\in",
        '∫' => "\\int",
        '√' => "\\surd",
        '½' => "\\tfrac12",
        '…' => "\\dots",
        _ => return None,
    })
}

/// A superscript (`true`) or subscript character and what it stands for.
fn script(c: char) -> Option<(bool, char)> {
    const SUP: &str = "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ⁿᵀ";
    const SUP_TO: &str = "0123456789+-()nT";
    const SUB: &str = "₀₁₂₃₄₅₆₇₈₉₊₋₍₎";
    const SUB_TO: &str = "0123456789+-()";
    let find = |set: &str, to: &str| {
        set.chars()
            .position(|s| s == c)
            .and_then(|i| to.chars().nth(i))
    };
    find(SUP, SUP_TO)
        .map(|t| (true, t))
        .or_else(|| find(SUB, SUB_TO).map(|t| (false, t)))
        // a prime is a superscript too (`x²′` must not be a double superscript)
        .or_else(|| (c == '′').then_some((true, '\'')))
}

/// Combining tilde (`μ̃`, `C̃`).
const TILDE: char = '\u{303}';

/// Text-mode characters that TeX reserves, escaped.
fn text_escape(c: char) -> Option<&'static str> {
    Some(match c {
        '\\' => "\\textbackslash{}",
        '{' => "\\{",
        '}' => "\\}",
        '_' => "\\_",
        '^' => "\\textasciicircum{}",
        '&' => "\\&",
        '%' => "\\%",
        '#' => "\\#",
        '$' => "\\$",
        '~' => "\\textasciitilde{}",
        _ => return None,
    })
}

/// One piece of converted input: ASCII text, or math.
enum Piece {
    Text(String),
    Math(String),
}

/// Splits `s` into text and math pieces: runs of superscripts or subscripts become one `^{…}` or
/// `_{…}`, a character followed by a combining tilde `\tilde{…}`, other symbols their commands.
fn pieces(s: &str) -> Vec<Piece> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if chars.get(i + 1) == Some(&TILDE) {
            // an accent on a letter or digit, or on a symbol with a command; on anything else
            // (a TeX-special or unknown character) a mark
            let inner = match symbol(c) {
                Some(cmd) => cmd.to_string(),
                None if c.is_ascii_alphanumeric() => c.to_string(),
                None => "\\textbf{?}".to_string(),
            };
            out.push(Piece::Math(format!("\\tilde{{{inner}}}")));
            i += 2;
            continue;
        }
        if let Some((sup, _)) = script(c) {
            let mut run = String::new();
            while let Some((s2, t)) = chars.get(i).and_then(|&c| script(c)) {
                if s2 != sup {
                    break;
                }
                match t {
                    '\'' => run.push_str("\\prime "),
                    t => run.push(t),
                }
                i += 1;
            }
            out.push(Piece::Math(format!(
                "{}{{{run}}}",
                if sup { "^" } else { "_" }
            )));
            continue;
        }
        if c.is_ascii() {
            out.push(Piece::Text(c.to_string()));
        } else if c == '–' {
            out.push(Piece::Text("--".into()));
        } else if c == '—' {
            out.push(Piece::Text("---".into()));
        } else if c == '§' {
            out.push(Piece::Text("\\S{}".into()));
        } else if let Some(cmd) = symbol(c) {
            out.push(Piece::Math(cmd.to_string()));
        } else {
            out.push(Piece::Text("\\textbf{?}".into()));
        }
        i += 1;
    }
    out
}

/// `s` as text-mode LaTeX in ASCII: TeX's reserved characters escaped, symbols as inline math,
/// adjacent ones in one `$…$` (never `$$`).
pub fn latex_text(s: &str) -> String {
    let mut out = String::new();
    let mut math = String::new();
    let flush = |out: &mut String, math: &mut String| {
        if !math.is_empty() {
            out.push('$');
            out.push_str(math);
            out.push('$');
            math.clear();
        }
    };
    for p in pieces(s) {
        match p {
            Piece::Math(m) => {
                // a command's name must not run on into a following letter
                let letters = |c: char| c.is_ascii_alphabetic();
                if math.ends_with(letters) && m.starts_with(letters) {
                    math.push(' ');
                }
                math.push_str(&m);
            }
            Piece::Text(t) => {
                flush(&mut out, &mut math);
                let c = t.chars().next();
                match c.filter(|_| t.len() == 1).and_then(text_escape) {
                    Some(e) => out.push_str(e),
                    None => out.push_str(&t),
                }
            }
        }
    }
    flush(&mut out, &mut math);
    out
}

/// `s` (already math-mode LaTeX but for its non-ASCII characters) with every symbol as its
/// command, in ASCII.
pub fn latex_math(s: &str) -> String {
    let mut out = String::new();
    for p in pieces(s) {
        match p {
            Piece::Math(m) => {
                out.push_str(&m);
                if m.starts_with('\\') && m.ends_with(|c: char| c.is_ascii_alphabetic()) {
                    out.push(' ');
                }
            }
            Piece::Text(t) => out.push_str(&t),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_ascii_with_inline_math() {
        assert_eq!(
            latex_text("Stein on x1: μ1·E[F] + Σ_j C1j·E[∂_j F]"),
            "Stein on x1: $\\mu$1$\\cdot$E[F] + $\\Sigma$\\_j C1j$\\cdot$E[$\\partial$\\_j F]"
        );
        assert_eq!(
            latex_text("E[δ⁽ⁿ⁻¹⁾F] = E_(μ̃,C̃)[F], Gauss–Legendre, §5.4, 100 %"),
            "E[$\\delta^{(n-1)}$F] = E\\_($\\tilde{\\mu}$,$\\tilde{C}$)[F], Gauss--Legendre, \
             \\S{}5.4, 100 \\%"
        );
        // adjacent symbols share one inline math, letters separated from commands
        assert_eq!(latex_text("−½xᵀAx"), "$-\\tfrac12$x$^{T}$Ax");
        assert_eq!(latex_text("·μ"), "$\\cdot\\mu$");
        assert_eq!(latex_text("ω"), "$\\omega$");
    }

    #[test]
    fn math_becomes_ascii_commands() {
        assert_eq!(
            latex_math("μ_1 + Σ_j C_{1j}"),
            "\\mu _1 + \\Sigma _j C_{1j}"
        );
        assert_eq!(latex_math("x·δ⁽ⁿ⁾"), "x\\cdot \\delta ^{(n)}");
        assert_eq!(latex_math("aμ"), "a\\mu ");
    }

    #[test]
    fn unknown_characters_are_marked_not_passed_through() {
        assert_eq!(latex_text("a ☃ b"), "a \\textbf{?} b");
        assert!(latex_math("☃").is_ascii());
        // an accent on a TeX-special or unknown character
        assert_eq!(
            latex_text("%\u{303}☃\u{303}"),
            "$\\tilde{\\textbf{?}}\\tilde{\\textbf{?}}$"
        );
        // primes join the superscript run
        assert_eq!(latex_math("g²′"), "g^{2\\prime }");
        assert_eq!(latex_text("g′"), "g$^{\\prime }$");
    }
}
