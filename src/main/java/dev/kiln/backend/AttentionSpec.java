package dev.kiln.backend;

import dev.kiln.tensor.Tensor;

/**
 * What a fused self-attention kernel computes over a packed projection qkv [B, T, 3E] (q, k and v
 * side by side in the last dim, {@code heads} heads of E / heads each), per batch b and head h:
 * <pre>
 *   S = scale * Q K^T + mask      (mask: float, broadcastable to [B, heads, T, T], or null)
 *   P = softmax(S) per row
 *   P = dropout(P)                 (when dropout: element (b, h, i, j) of the [B, heads, T, T]
 *                                   probabilities, flat index f, is kept when the top 24 bits of
 *                                   Generator.draw(dropBase, f) are at least dropThreshold, and
 *                                   scaled by dropScale; ops.Dropout's mask on that tensor)
 *   out[b, :, h*D:(h+1)*D] = P V   (out [B, T, E])
 * </pre>
 * Nothing of size T x T is kept between the forward and the backward pass: the backward recomputes
 * S and P per head from qkv and the mask (and the dropout mask from its base).
 */
public record AttentionSpec(int heads, float scale, Tensor mask, boolean dropout, long dropBase, long dropThreshold, float dropScale) {}
