//! `expand(attr, item)`: the whole attribute as a plain function, testable without a compiler
//! (the pattern of serde_derive / pyo3-macros-backend). The proc-macro entry only calls this.

use aedyn_symbolic::activation::{Outcome, derive_activation};
use aedyn_symbolic::catalogue::Spec;
use aedyn_symbolic::{expr, render};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::spanned::Spanned;

/// Options of `#[activation(...)]`.
#[derive(Default, Debug)]
pub struct Options {
    /// Allow quadrature where no closed form exists.
    pub quadrature: bool,
    /// The run-time name (default: the function's name).
    pub name: Option<String>,
}

fn parse_options(attr: TokenStream) -> syn::Result<Options> {
    let mut opts = Options::default();
    if attr.is_empty() {
        return Ok(opts);
    }
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("quadrature") {
            opts.quadrature = true;
            Ok(())
        } else if meta.path.is_ident("name") {
            let s: syn::LitStr = meta.value()?.parse()?;
            opts.name = Some(s.value());
            Ok(())
        } else {
            Err(meta
                .error("#[activation]: unknown option; supported: `quadrature`, `name = \"...\"`"))
        }
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(opts)
}

/// The result of deriving one integral for emission.
struct Derived {
    method: &'static str,
    body: TokenStream,
    trace: String,
}

/// An integral without closed form: the run-time composite Gauss–Legendre quadrature of
/// `aedyn::quad::composite`, on the rule the activation resolves once (its panels follow g's
/// features at any variance).
fn derive_quadrature(spec: &Spec) -> Derived {
    let variant = format_ident!("{}", spec.variant);
    let trace = if spec.variant == "I3" {
        "composite Gauss–Legendre quadrature over (x1, x3), exact in x2 (its conditional mean is linear)"
            .to_string()
    } else {
        format!(
            "composite Gauss–Legendre quadrature in {} variable(s), panels following g's features",
            spec.arity
        )
    };
    Derived {
        method: "Quadrature",
        body: quote! {
            ::aedyn::quad::expectation(self, Self::resolved_quadrature_rule(), ::aedyn::Integral::#variant, n)
        },
        trace,
    }
}

fn upper_camel(s: &str) -> String {
    s.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The body expression and the argument name of `fn name(x: f64) -> f64 { body }`.
fn body_of(item: &syn::ItemFn) -> syn::Result<(syn::Expr, String)> {
    let sig = &item.sig;
    if sig.inputs.len() != 1 {
        return Err(syn::Error::new(
            sig.inputs.span(),
            "#[activation]: expected exactly one argument `x: f64`",
        ));
    }
    let arg = match &sig.inputs[0] {
        syn::FnArg::Typed(p) => match &*p.pat {
            syn::Pat::Ident(i) => i.ident.to_string(),
            other => {
                return Err(syn::Error::new(
                    other.span(),
                    "#[activation]: the argument must be a plain name",
                ));
            }
        },
        other => {
            return Err(syn::Error::new(
                other.span(),
                "#[activation]: expected a free function `fn(x: f64) -> f64`",
            ));
        }
    };
    let stmts = &item.block.stmts;
    match stmts.as_slice() {
        [syn::Stmt::Expr(e, None)] => Ok((e.clone(), arg)),
        [syn::Stmt::Expr(syn::Expr::Return(r), _)] if r.expr.is_some() => Ok((
            (*r.expr.clone().unwrap_or_else(|| unreachable!())).clone(),
            arg,
        )),
        _ => Err(syn::Error::new(
            item.block.span(),
            "#[activation]: the body must be a single expression in the argument",
        )),
    }
}

/// The span of the call or method named `name` in the body, if found.
fn offending_span(body: &syn::Expr, name: &str) -> Option<Span> {
    let name = name.to_string();
    struct Finder<'n> {
        name: &'n str,
        found: Option<Span>,
    }
    impl<'ast> syn::visit::Visit<'ast> for Finder<'_> {
        fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
            if self.found.is_none() && m.method == self.name {
                self.found = Some(m.method.span());
            }
            syn::visit::visit_expr_method_call(self, m);
        }
        fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
            if let syn::Expr::Path(p) = &*c.func
                && self.found.is_none()
                && p.path.segments.last().is_some_and(|s| s.ident == self.name)
            {
                self.found = Some(p.span());
            }
            syn::visit::visit_expr_call(self, c);
        }
    }
    let mut f = Finder {
        name: &name,
        found: None,
    };
    syn::visit::Visit::visit_expr(&mut f, body);
    f.found
}

/// Expands `#[activation(attr)] item`.
pub fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let opts = parse_options(attr)?;
    let item: syn::ItemFn = syn::parse2(item)?;
    let (body, arg) = body_of(&item)?;
    let g = expr::simplify(expr::parse(&body, &arg)?);
    let fn_ident = &item.sig.ident;
    let mut derivation = derive_activation(g, opts.quadrature).map_err(|r| {
        let span = r
            .culprit
            .as_deref()
            .and_then(|c| offending_span(&body, c))
            .unwrap_or_else(|| body.span());
        syn::Error::new(span, format!("#[activation] `{fn_ident}`: {}", r.message))
    })?;

    let struct_ident = format_ident!("{}", upper_camel(&fn_ident.to_string()));
    let name = opts.name.clone().unwrap_or_else(|| fn_ident.to_string());
    let kernels = quote!(::aedyn::kernels);
    let mut methods = Vec::new();
    let mut arms = Vec::new();
    let mut formulas = Vec::new();
    let mut uses_quadrature = false;
    for integral in &derivation.integrals {
        let spec = integral.spec;
        let trace = integral.trace.join("\n");
        let derived = match &integral.outcome {
            Outcome::Closed(root) => Derived {
                method: "ClosedForm",
                body: render::rust(&derivation.graph, *root, &kernels),
                trace,
            },
            Outcome::Quadrature(why) => {
                uses_quadrature = true;
                let mut d = derive_quadrature(spec);
                d.trace = format!("no closed form ({why}); {}", d.trace);
                d
            }
            Outcome::Undefined(why) => Derived {
                method: "Undefined",
                body: quote!(f64::NAN),
                trace: format!("undefined: {why}"),
            },
        };
        let fname = format_ident!("{}", spec.fn_name);
        let variant = format_ident!("{}", spec.variant);
        let method = format_ident!("{}", derived.method);
        let b = derived.body;
        let doc = format!("`{}` ({}).", spec.definition, derived.method);
        methods.push(quote! {
            #[doc = #doc]
            #[allow(unused_variables, clippy::all)]
            pub fn #fname(&self, n: &::aedyn::Gauss3) -> f64 { #b }
        });
        arms.push(quote! { ::aedyn::Integral::#variant => self.#fname(n) });
        let printed = integral.printed.clone().unwrap_or_default();
        let (general, zero_mean, general_latex, zero_mean_latex) = (
            printed.general,
            printed.zero_mean,
            printed.general_latex,
            printed.zero_mean_latex,
        );
        let derivation_latex = aedyn_symbolic::activation::latex_trace(&derived.trace);
        let (def, trace, latex) = (spec.definition, derived.trace, spec.latex);
        formulas.push(quote! {
            ::aedyn::Formula {
                integral: ::aedyn::Integral::#variant,
                definition: #def,
                method: ::aedyn::Method::#method,
                derivation: #trace,
                derivation_latex: #derivation_latex,
                latex: #latex,
                general: #general,
                zero_mean: #zero_mean,
                general_latex: #general_latex,
                zero_mean_latex: #zero_mean_latex,
            }
        });
    }
    // fused kernels of one ODE right-hand side evaluation (shared subexpressions, and a zero-mean
    // specialisation taken when the biases vanish)
    let fused = match derivation.ode_kernels() {
        Some(k) => {
            let gr = &derivation.graph;
            let (unit, unit0) = (
                render::rust_many(gr, &k.unit, &kernels),
                render::rust_many(gr, &k.unit_zero, &kernels),
            );
            let (pair, pair0) = (
                render::rust_many(gr, &k.pair, &kernels),
                render::rust_many(gr, &k.pair_zero, &kernels),
            );
            quote! {
                fn unit_kernels(&self, mean: f64, var: f64, _bias: bool) -> [f64; 7] {
                    let n = &::aedyn::Gauss3 {
                        mean: [mean, 0.0, 0.0],
                        cov: [[var, 0.0, 0.0], [0.0; 3], [0.0; 3]],
                    };
                    if mean == 0.0 { #unit0 } else { #unit }
                }
                fn pair_kernels(&self, n: &::aedyn::Gauss3, _bias: bool) -> [f64; 6] {
                    if n.mean[0] == 0.0 && n.mean[1] == 0.0 { #pair0 } else { #pair }
                }
            }
        }
        None => quote!(),
    };
    let code: Vec<TokenStream> = derivation.pointwise.iter().map(expr::to_tokens).collect();
    let (dg, d2g, d3g) = (&code[1], &code[2], &code[3]);
    let texts: Vec<String> = derivation.derivatives_text().to_vec();
    let latex: Vec<String> = derivation.pointwise.iter().map(expr::to_latex).collect();
    let source = quote!(#body).to_string();
    let (rule_fn, rule_method) = if uses_quadrature {
        (
            quote! {
                /// The composite quadrature's rule for this activation, resolved on first use.
                fn resolved_quadrature_rule() -> &'static ::aedyn::quad::Rule {
                    static RULE: ::std::sync::OnceLock<::aedyn::quad::Rule> = ::std::sync::OnceLock::new();
                    RULE.get_or_init(|| ::aedyn::quad::Rule::of_activation(&#struct_ident))
                }
            },
            {
                let breaks = derivation.breaks.iter().map(|&b| expr::float_tokens(b));
                let break_points = if derivation.breaks.is_empty() {
                    quote!()
                } else {
                    quote! {
                        fn break_points(&self) -> &[f64] {
                            &[#(#breaks),*]
                        }
                    }
                };
                quote! {
                    fn quadrature_rule(&self) -> Option<&::aedyn::quad::Rule> {
                        Some(Self::resolved_quadrature_rule())
                    }
                    #break_points
                }
            },
        )
    } else {
        (quote!(), quote!())
    };
    let allows_quadrature = if opts.quadrature {
        quote!(
            fn allows_quadrature(&self) -> bool {
                true
            }
        )
    } else {
        quote!()
    };
    let generated = quote! {
        #[doc = concat!("The activation `", #name, "` declared with `#[activation]`.")]
        #[derive(Clone, Copy, Debug, Default)]
        pub struct #struct_ident;

        #[allow(clippy::all)]
        impl #struct_ident {
            #rule_fn
            #(#methods)*
        }

        #[allow(clippy::all)]
        impl ::aedyn::Activation for #struct_ident {
            fn name(&self) -> &'static str { #name }
            fn expression(&self) -> &'static str { #source }
            #allows_quadrature
            #rule_method
            fn g(&self, x: f64) -> f64 { #fn_ident(x) }
            fn dg(&self, x: f64) -> f64 { #dg }
            fn d2g(&self, x: f64) -> f64 { #d2g }
            fn d3g(&self, x: f64) -> f64 { #d3g }
            fn integral(&self, which: ::aedyn::Integral, n: &::aedyn::Gauss3) -> f64 {
                match which { #(#arms),* }
            }
            fn formulas(&self) -> &'static [::aedyn::Formula] {
                const F: &[::aedyn::Formula] = &[#(#formulas),*];
                F
            }
            fn derivatives_text(&self) -> [&'static str; 4] { [#(#texts),*] }
            #fused
        }
    };
    let pretty = pretty(&generated);
    let latex_doc = latex.join(" ; ");
    Ok(quote! {
        #item
        #generated
        ::aedyn::inventory::submit! {
            ::aedyn::registry::Registration(&#struct_ident)
        }
        impl #struct_ident {
            /// The pretty-printed code this attribute generated (for review and snapshots).
            pub const EXPANSION: &'static str = #pretty;
            /// g, g', g'', g''' in LaTeX, separated by " ; ".
            pub const DERIVATIVES_LATEX: &'static str = #latex_doc;
        }
    })
}

/// `prettyplease` rendering of generated items.
pub fn pretty(tokens: &TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(f) => prettyplease::unparse(&f),
        Err(_) => tokens.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_src(attr: &str, src: &str) -> syn::Result<TokenStream> {
        expand(attr.parse().expect("tokens"), src.parse().expect("tokens"))
    }

    #[test]
    fn erf_expansion_snapshot() {
        let out = expand_src(
            "name = \"erf\"",
            "fn erf_act(x: f64) -> f64 { erf(x / SQRT_2) }",
        )
        .expect("expands");
        let file: syn::File = syn::parse2(out).expect("valid items");
        // the EXPANSION constant duplicates the rest; snapshot the items before it
        let items: Vec<_> = file.items.into_iter().take(4).collect();
        insta::assert_snapshot!(prettyplease::unparse(&syn::File {
            shebang: None,
            frontmatter: None,
            attrs: vec![],
            items
        }));
    }

    #[test]
    fn tanh_without_quadrature_names_the_integral() {
        let err = expand_src("", "fn t(x: f64) -> f64 { x.tanh() }").expect_err("error");
        let msg = err.to_string();
        assert!(
            msg.contains("integral I2") && msg.contains("quadrature"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_option_is_rejected() {
        assert!(expand_src("fast", "fn t(x: f64) -> f64 { x }").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(upper_camel("leaky_relu"), "LeakyRelu");
        assert_eq!(upper_camel("gelu"), "Gelu");
    }
}
