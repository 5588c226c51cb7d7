//! What the two books do, done again: their experiments ([`suite`]) rerun from `configs/`
//! against the published figures ([`reproduce`]), and *Deep Learning from Scratch*'s numerical gradient
//! check, here of Burn's autodiff ([`gradcheck`]).

pub mod gradcheck;
pub mod reproduce;
pub mod suite;
