// "did you mean ...?" for a misspelt key: the closest known key by edit distance, when close.

// Optimal string alignment distance (Levenshtein plus adjacent transpositions, the commonest
// typo). Three rolling rows, not a matrix (a key may be megabytes long in a hostile file), kept
// between calls: a file with 100,000 unknown keys asks for half a million distances. With
// `max`, gives up (returning max + 1) once every alignment is already farther than that.
let rows = [new Int32Array(64), new Int32Array(64), new Int32Array(64)];

export function editDistance(a: string, b: string, max = Infinity): number {
  const n = b.length;
  if (rows[0].length < n + 1) rows = [new Int32Array(n + 1), new Int32Array(n + 1), new Int32Array(n + 1)];
  let [prev2, prev, cur] = rows;
  for (let j = 0; j <= n; j++) prev[j] = j;
  let prevMin = 0;
  for (let i = 1; i <= a.length; i++) {
    const ai = a.charCodeAt(i - 1);
    const aPrev = i > 1 ? a.charCodeAt(i - 2) : -1;
    cur[0] = i;
    let rowMin = i;
    for (let j = 1; j <= n; j++) {
      const bj = b.charCodeAt(j - 1);
      let d = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ai === bj ? 0 : 1));
      if (j > 1 && ai === b.charCodeAt(j - 2) && aPrev === bj && prev2[j - 2] + 1 < d) d = prev2[j - 2] + 1;
      cur[j] = d;
      if (d < rowMin) rowMin = d;
    }
    // a transposition reaches back two rows, so both must be past `max` to stop
    if (rowMin > max && prevMin > max) return max + 1;
    prevMin = rowMin;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[n];
}

/** The known word closest to `word` (case-insensitively), if it is plausibly what was meant. */
export function suggest(word: string, known: readonly string[]): string | undefined {
  // One edit for short words, about a third of the word for longer ones: closer than that is a
  // typo, farther is a different word and a suggestion would mislead.
  const limit = Math.max(1, Math.floor(word.length / 3));
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    // the distance is at least the difference in length: skip what cannot be close enough
    // (this also keeps a huge unknown key from costing its length times each known key)
    if (Math.abs(w.length - k.length) > limit) continue;
    const dist = editDistance(w, k.toLowerCase(), Math.min(limit, bestDistance));
    if (dist < bestDistance) {
      best = k;
      bestDistance = dist;
    }
  }
  return best !== undefined && bestDistance <= limit ? best : undefined;
}
