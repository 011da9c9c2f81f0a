//! Uses smallvec so that it is compiled in (and listed by cargo auditable).
fn main() {
    let mut numbers: smallvec::SmallVec<[u32; 4]> = smallvec::SmallVec::new();
    numbers.extend(std::env::args().map(|a| u32::try_from(a.len()).unwrap_or(u32::MAX)));
    println!("{}", numbers.iter().sum::<u32>());
}
