//! Several networks reading the same images and voting, as network3's `conv.py` makes its
//! ensemble of five: each member's most probable class is one vote, and the class with most
//! votes wins.

use crate::model::inference;

/// The winning class of each example. `members[m][i]` is member `m`'s probability of each class
/// for example `i`.
///
/// A tie between classes with equally many votes goes to the one with the largest probability
/// summed over the members, then to the lower class. That rule is ours: `conv.py` takes
/// `Counter.most_common(1)`, which breaks ties by the order the votes came in, so by the
/// members' order.
pub fn vote(members: &[Vec<Vec<f32>>]) -> Vec<usize> {
    let examples = members.first().map_or(0, Vec::len);
    (0..examples)
        .map(|i| {
            let classes = members[0][i].len();
            let mut votes = vec![0usize; classes];
            let mut summed = vec![0f32; classes];
            for member in members {
                let probabilities = &member[i];
                votes[inference::ranked(probabilities)[0].0] += 1;
                for (sum, p) in summed.iter_mut().zip(probabilities) {
                    *sum += p;
                }
            }
            // Most votes, then most summed probability, then the lower class.
            (0..classes)
                .max_by(|&a, &b| {
                    votes[a]
                        .cmp(&votes[b])
                        .then(summed[a].total_cmp(&summed[b]))
                        .then(b.cmp(&a))
                })
                .expect("at least one class")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A member's probabilities for one example, most of it on `class`.
    fn sure(class: usize, p: f32) -> Vec<f32> {
        let mut probabilities = vec![(1.0 - p) / 2.0; 3];
        probabilities[class] = p;
        probabilities
    }

    #[test]
    fn the_class_with_most_votes_wins_whatever_the_probabilities() {
        // Two members say 1 barely, one says 2 with certainty: 1 has two votes.
        let members = vec![vec![sure(1, 0.4)], vec![sure(1, 0.4)], vec![sure(2, 1.0)]];
        assert_eq!(vote(&members), [1]);
    }

    #[test]
    fn a_tie_goes_to_the_larger_summed_probability_not_to_the_first_member() {
        // One vote each for 0 and 2; 2's member is surer, and 2's summed probability larger.
        let members = vec![vec![sure(0, 0.5)], vec![sure(2, 0.9)]];
        assert_eq!(vote(&members), [2]);
        // The same the other way round: the order of the members does not matter.
        let members = vec![vec![sure(2, 0.9)], vec![sure(0, 0.5)]];
        assert_eq!(vote(&members), [2]);
        // Equal in votes and in summed probability: the lower class.
        let members = vec![vec![vec![0.5, 0.0, 0.5]]];
        assert_eq!(vote(&members), [0]);
    }

    #[test]
    fn one_member_votes_its_most_probable_class() {
        let members = vec![vec![sure(0, 0.6), sure(2, 0.7), sure(1, 0.9)]];
        assert_eq!(vote(&members), [0, 2, 1]);
    }
}
