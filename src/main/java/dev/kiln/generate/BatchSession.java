package dev.kiln.generate;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/** A session of a native decoder that can take part in that decoder's batched steps ({@link Decoder#stepAll}). */
interface BatchSession extends Decoder.Session {
    /** The decoder this session belongs to. */
    Decoder decoder();

    /** Refuses, in one line, a step that would append ids and so hold total tokens. */
    void check(int[] ids, int total);

    /**
     * The sessions of one batched step of decoder, checked: as many as ids, each a session of type
     * of this decoder, none twice, each with room for its token (one-line errors, nothing changed).
     */
    static <S extends BatchSession> S[] checked(Decoder decoder, List<Decoder.Session> sessions, int[] ids, Class<S> type) {
        if (sessions.size() != ids.length) throw new IllegalArgumentException(sessions.size() + " sessions but " + ids.length + " token ids");
        @SuppressWarnings("unchecked")
        S[] out = (S[]) java.lang.reflect.Array.newInstance(type, ids.length);
        Set<Decoder.Session> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (int i = 0; i < ids.length; i++) {
            Decoder.Session s = sessions.get(i);
            if (!type.isInstance(s) || type.cast(s).decoder() != decoder)
                throw new IllegalArgumentException("session " + i + " does not belong to this decoder");
            if (!seen.add(s)) throw new IllegalArgumentException("session " + i + " appears twice in one step");
            out[i] = type.cast(s);
            out[i].check(new int[] {ids[i]}, s.length() + 1);
        }
        return out;
    }

    /** A batched step's token ids as longs (index_select's index). */
    static long[] longs(int[] ids) {
        long[] out = new long[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = ids[i];
        return out;
    }

    /** Each session's next position: the tokens its cache holds. */
    static long[] positions(BatchSession[] sessions) {
        long[] out = new long[sessions.length];
        for (int i = 0; i < sessions.length; i++) out[i] = sessions[i].length();
        return out;
    }
}
