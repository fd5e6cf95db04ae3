-- Normalisations shared by the dedup queries (temporary macros of one connection).
-- Text for exact dedup: each step switched by a flag, applied in datatrove's order.
CREATE OR REPLACE TEMP MACRO _dn_lower(t, on_) AS CASE WHEN on_ THEN lower(t) ELSE t END;
CREATE OR REPLACE TEMP MACRO _dn_digits(t, on_) AS CASE WHEN on_ THEN regexp_replace(t, '[0-9]+', '0', 'g') ELSE t END;
CREATE OR REPLACE TEMP MACRO _dn_punct(t, on_) AS CASE WHEN on_ THEN regexp_replace(t, '[[:punct:]]+', ' ', 'g') ELSE t END;
CREATE OR REPLACE TEMP MACRO _dn_space(t, on_) AS CASE WHEN on_ THEN trim(regexp_replace(t, '\s+', ' ', 'g')) ELSE t END;
CREATE OR REPLACE TEMP MACRO dedup_norm_text(t, lower_case, digits, punctuation, whitespace) AS
    _dn_space(_dn_punct(_dn_digits(_dn_lower(coalesce(t, ''), lower_case), digits), punctuation), whitespace);

-- URL identity: scheme, "www.", fragment, default ports, tracking parameters and
-- trailing slashes do not make a different page; the host is case-insensitive.
CREATE OR REPLACE TEMP MACRO _du_query(u, strip_query) AS CASE WHEN strip_query
    THEN regexp_replace(u, '\?.*$', '')
    ELSE regexp_replace(regexp_replace(u, '([?&])(utm_[a-z_]+|fbclid|gclid)=[^&]*&?', '\1', 'g'), '[?&]+$', '') END;
CREATE OR REPLACE TEMP MACRO _du_bare(u, strip_query) AS
    regexp_replace(regexp_replace(_du_query(regexp_replace(trim(coalesce(u, '')), '#.*$', ''), strip_query),
                                  '^[a-zA-Z][a-zA-Z0-9+.-]*://', ''), '^www\.', '', 'i');
CREATE OR REPLACE TEMP MACRO _du_join(host, rest) AS
    nullif(regexp_replace(lower(host), ':(80|443)$', '') || regexp_replace(rest, '/+(\?|$)', '\1'), '');
CREATE OR REPLACE TEMP MACRO dedup_norm_url(u, strip_query) AS
    _du_join(regexp_extract(_du_bare(u, strip_query), '^[^/?]*'),
             regexp_replace(_du_bare(u, strip_query), '^[^/?]*', ''));

-- A line or paragraph as CCNet compares it: trimmed, lower case, digits as 0, no punctuation.
CREATE OR REPLACE TEMP MACRO dedup_norm_line(l) AS
    lower(regexp_replace(regexp_replace(trim(l), '[0-9]+', '0', 'g'), '[[:punct:]]+', '', 'g'));
CREATE OR REPLACE TEMP MACRO dedup_split_lines(t, paragraphs) AS
    CASE WHEN paragraphs THEN regexp_split_to_array(coalesce(t, ''), '\n[ \t\r]*\n') ELSE string_split(coalesce(t, ''), chr(10)) END;
