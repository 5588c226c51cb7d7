//! The network as a table, layer by layer, with each layer's output shape and parameter count:
//! what `train` prints first, as Keras's `model.summary()` and torchinfo do.

use std::fmt;

/// One layer of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRow {
    /// What the layer is, as the books say it: `conv 20 5×5, relu`, `max-pool 2×2`, `fc 100`.
    pub name: String,
    /// The shape of one example after it: `[20, 24, 24]` (maps, rows, columns), or `[100]`.
    pub shape: Vec<usize>,
    /// Its trainable numbers.
    pub parameters: usize,
    /// Whether it computes something to look at: a convolution, a pooling or a fully connected
    /// layer. The input, a dropout (the identity at inference) and the flattening do not, and
    /// [`Network::forward_layers`](crate::model::Network::forward_layers) gives one output for
    /// each row that does, in this order.
    pub computes: bool,
}

impl LayerRow {
    /// A layer that computes.
    pub fn new(name: String, shape: Vec<usize>, parameters: usize) -> Self {
        Self {
            name,
            shape,
            parameters,
            computes: true,
        }
    }

    /// A row that only passes its input on (or is the input): no parameters, nothing new to see.
    pub fn passive(name: String, shape: Vec<usize>) -> Self {
        Self {
            computes: false,
            ..Self::new(name, shape, 0)
        }
    }

    /// The shape as the table writes it: `20×24×24`.
    pub fn output(&self) -> String {
        let sides: Vec<String> = self.shape.iter().map(usize::to_string).collect();
        sides.join("×")
    }
}

/// The whole network's table.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Input first.
    pub rows: Vec<LayerRow>,
}

impl Summary {
    /// Trainable numbers in all.
    pub fn parameters(&self) -> usize {
        self.rows.iter().map(|row| row.parameters).sum()
    }
}

impl fmt::Display for Summary {
    /// ```text
    /// layer                 output       parameters
    /// input                 1×28×28               0
    /// conv 20 5×5, sigmoid  20×24×24            520
    /// ...
    /// total                                 289,630
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name_width = self.rows.iter().map(|r| r.name.chars().count()).max();
        let name_width = name_width.unwrap_or(0).max("layer".len());
        let output_width = self.rows.iter().map(|r| r.output().chars().count()).max();
        let output_width = output_width.unwrap_or(0).max("output".len());
        let total = thousands(self.parameters());
        let count_width = total.len().max("parameters".len());
        let line = |f: &mut fmt::Formatter<'_>, name: &str, output: &str, count: &str| {
            // `{:<w$}` pads by chars, so `×` counts as one column.
            writeln!(
                f,
                "  {name:<name_width$}  {output:<output_width$}  {count:>count_width$}"
            )
        };
        line(f, "layer", "output", "parameters")?;
        for row in &self.rows {
            line(f, &row.name, &row.output(), &thousands(row.parameters))?;
        }
        write!(
            f,
            "  {:<name_width$}  {:<output_width$}  {total:>count_width$}",
            "total", ""
        )
    }
}

/// `289630` as `289,630`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_and_totals() {
        let summary = Summary {
            rows: vec![
                LayerRow::passive("input".into(), vec![1, 28, 28]),
                LayerRow::new("conv 20 5×5, sigmoid".into(), vec![20, 24, 24], 520),
                LayerRow::new("fc 10, logits".into(), vec![10], 1_001_010),
            ],
        };
        assert_eq!(
            summary.to_string(),
            "  layer                 output    parameters\n\
            \x20 input                 1×28×28            0\n\
            \x20 conv 20 5×5, sigmoid  20×24×24         520\n\
            \x20 fc 10, logits         10         1,001,010\n\
            \x20 total                            1,001,530"
        );
    }
}
