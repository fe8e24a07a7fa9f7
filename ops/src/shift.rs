//! Windows over whole groups of planes, for the stride-1 pools that keep a plane's size
//! ([`QAvgPool`](crate::QAvgPool), [`QMaxPool`](crate::QMaxPool)): a window's reduction is
//! the reduction of shifted copies of the whole group, computed in long loops the compiler
//! vectorizes; the cells whose shifted copy crossed into the next row (or plane) are then
//! computed again from their own row (or plane) alone.

/// For every shift `d` in `-before..=after` but 0: `acc[i] = f(acc[i], src[i + d·step])`
/// wherever `i + d·step` is inside `src` (as long as `acc`).
#[inline(always)]
pub(crate) fn combine_shifted<A, S: Copy>(
    acc: &mut [A],
    src: &[S],
    [before, after]: [usize; 2],
    step: usize,
    f: impl Fn(&mut A, S),
) {
    let n = acc.len().min(src.len());
    let shifts = (1..=before)
        .map(|d| -(d as isize))
        .chain((1..=after).map(|d| d as isize));
    for d in shifts {
        let off = d.unsigned_abs() * step;
        if off >= n {
            continue; // every cell it would reach is an edge cell, computed again
        }
        let (to, from) = if d > 0 {
            (&mut acc[..n - off], &src[off..n])
        } else {
            (&mut acc[off..n], &src[..n - off])
        };
        for (a, &s) in to.iter_mut().zip(from) {
            f(a, s);
        }
    }
}

/// The indices of `0..len` less than `before` from its start or `after` from its end (the
/// cells a window reaching `before` back and `after` ahead sees beyond), each once.
#[inline(always)]
pub(crate) fn edges(
    len: usize,
    before: usize,
    after: usize,
) -> impl Iterator<Item = usize> + Clone {
    let head = before.min(len);
    (0..head).chain(len.saturating_sub(after).max(head)..len)
}

/// In every `w`-wide row of `acc` (`src`'s rows, as long): the [`edges`] columns set to
/// `f` folded from `init` over the row's columns `c − left ..= c + right` inside the row.
#[inline(always)]
pub(crate) fn redo_edge_columns<A: Copy, S: Copy>(
    acc: &mut [A],
    src: &[S],
    w: usize,
    [left, right]: [usize; 2],
    init: A,
    f: impl Fn(A, S) -> A,
) {
    for (row, line) in acc
        .chunks_exact_mut(w.max(1))
        .zip(src.chunks_exact(w.max(1)))
    {
        for c in edges(w, left, right) {
            let (a, b) = (c.saturating_sub(left), (c + right + 1).min(w));
            row[c] = line[a..b].iter().fold(init, |acc, &v| f(acc, v));
        }
    }
}

/// In every `h`×`w` plane of `acc` (`src`'s planes, as many): the [`edges`] rows set, column
/// by column, to `f` folded from `init` over the plane's rows `y − top ..= y + bottom`
/// inside the plane.
#[inline(always)]
pub(crate) fn redo_edge_rows<A: Copy>(
    acc: &mut [A],
    src: &[A],
    [h, w]: [usize; 2],
    [top, bottom]: [usize; 2],
    init: A,
    f: impl Fn(A, A) -> A,
) {
    let hw = (h * w).max(1);
    for (out, plane) in acc.chunks_exact_mut(hw).zip(src.chunks_exact(hw)) {
        for y in edges(h, top, bottom) {
            let (a, b) = (y.saturating_sub(top), (y + bottom + 1).min(h));
            let dst = &mut out[y * w..(y + 1) * w];
            dst.fill(init);
            for line in plane[a * w..b * w].chunks_exact(w.max(1)) {
                for (d, &v) in dst.iter_mut().zip(line) {
                    *d = f(*d, v);
                }
            }
        }
    }
}
