/* record.c: the stored-record codec (message format v1, store spec §1.3), property strings,
 * batch bodies and offsetMsgIds. Pure functions over byte buffers: no store, no allocation,
 * every length read from the input is checked against what is left before it is used. */
#include <string.h>

#include "store/store.h"
#include "store/store_int.h"

const char *st_strerror(int err)
{
    switch (err) {
    case ST_OK: return "ok";
    case ST_ENOMEM: return "out of memory";
    case ST_EIO: return "i/o error";
    case ST_ENOFILES: return "out of file descriptors";
    case ST_EINVAL: return "invalid argument";
    case ST_EMSG_ILLEGAL: return "message illegal";
    case ST_EPROPS_TOO_LONG: return "properties too long";
    case ST_ELOCKED: return "store locked by another process";
    case ST_ECORRUPT: return "corrupt record";
    case ST_ECRC: return "body crc mismatch";
    case ST_ETRUNC: return "truncated record";
    case ST_ENOENT: return "not found";
    case ST_EBLANK: return "end-of-file blank";
    case ST_ENOTWRITABLE: return "store not writable";
    case ST_EDISKFULL: return "disk full";
    case ST_EFLUSH: return "disk flush failing";
    case ST_ESLAVE: return "slave store: writes come from the master";
    }
    return "unknown error";
}

size_t st_record_size(int32_t sysFlag, size_t bodyLen, size_t topicLen, size_t propsLen)
{
    size_t n = 91 + bodyLen + topicLen + propsLen;
    if (sysFlag & ST_SYSFLAG_BORNHOST_V6)
        n += 12;
    if (sysFlag & ST_SYSFLAG_STOREHOST_V6)
        n += 12;
    return n;
}

/* Writes everything but the variable tail; returns the pointer where BODYLENGTH goes. */
static uint8_t *enc_head(uint8_t *d, uint32_t total, const st_record_t *r)
{
    int blen = (r->sysFlag & ST_SYSFLAG_BORNHOST_V6) ? 16 : 4;
    int slen = (r->sysFlag & ST_SYSFLAG_STOREHOST_V6) ? 16 : 4;
    cm_wbe32(d, total);
    cm_wbe32(d + 4, ST_MSG_MAGIC);
    cm_wbe32(d + 8, (uint32_t)r->bodyCRC);
    cm_wbe32(d + 12, (uint32_t)r->queueId);
    cm_wbe32(d + 16, (uint32_t)r->flag);
    cm_wbe64(d + 20, (uint64_t)r->queueOffset);
    cm_wbe64(d + 28, (uint64_t)r->physicOffset);
    cm_wbe32(d + 36, (uint32_t)r->sysFlag);
    cm_wbe64(d + 40, (uint64_t)r->bornTimestamp);
    d += 48;
    memcpy(d, r->bornHost, blen);
    cm_wbe32(d + blen, (uint32_t)r->bornPort);
    d += blen + 4;
    cm_wbe64(d, (uint64_t)r->storeTimestamp);
    d += 8;
    memcpy(d, r->storeHost, slen);
    cm_wbe32(d + slen, (uint32_t)r->storePort);
    d += slen + 4;
    cm_wbe32(d, (uint32_t)r->reconsumeTimes);
    cm_wbe64(d + 4, (uint64_t)r->preparedTransactionOffset);
    return d + 12;
}

size_t st_rec_encode_parts(uint8_t *dst, const st_record_t *r, const char *p1, size_t l1,
                           int sep, const char *p2, size_t l2)
{
    size_t plen = l1 + (sep ? 1 : 0) + l2;
    size_t total = st_record_size(r->sysFlag, r->bodyLen, r->topicLen, plen);
    uint8_t *d = enc_head(dst, (uint32_t)total, r);
    cm_wbe32(d, r->bodyLen);
    d += 4;
    if (r->bodyLen)
        memcpy(d, r->body, r->bodyLen);
    d += r->bodyLen;
    *d++ = (uint8_t)r->topicLen;
    memcpy(d, r->topic, r->topicLen);
    d += r->topicLen;
    cm_wbe16(d, (uint16_t)plen);
    d += 2;
    if (l1)
        memcpy(d, p1, l1);
    d += l1;
    if (sep)
        *d++ = ST_PROP_SEP;
    if (l2)
        memcpy(d, p2, l2);
    return total;
}

int st_record_encode(const st_record_t *r, uint8_t *dst, size_t cap, size_t *written)
{
    if (r->topicLen > ST_MAX_TOPIC_LEN || r->propertiesLen > ST_MAX_PROPS_LEN ||
        r->bodyLen > 0x7FFFFF00u || (r->bodyLen && !r->body))
        return ST_EINVAL;
    size_t total = st_record_size(r->sysFlag, r->bodyLen, r->topicLen, r->propertiesLen);
    if (total > cap || total > 0x7FFFFFFFu)
        return ST_EINVAL;
    st_rec_encode_parts(dst, r, r->properties, r->propertiesLen, 0, NULL, 0);
    if (written)
        *written = total;
    return ST_OK;
}

int st_record_decode(const uint8_t *p, size_t len, int checkCRC, st_record_t *out)
{
    memset(out, 0, sizeof(*out));
    if (len < 8)
        return ST_ETRUNC;
    int32_t total = (int32_t)cm_be32(p);
    uint32_t magic = cm_be32(p + 4);
    out->totalSize = total;
    out->magic = magic;
    if (magic == ST_BLANK_MAGIC)
        return total >= 8 ? ST_EBLANK : ST_ECORRUPT;
    if (magic != ST_MSG_MAGIC)
        return ST_ECORRUPT;
    if (total < 91)
        return ST_ECORRUPT;
    if ((size_t)total > len)
        return ST_ETRUNC;
    size_t end = (size_t)total;
    if (end < 52)
        return ST_ECORRUPT;
    out->bodyCRC = (int32_t)cm_be32(p + 8);
    out->queueId = (int32_t)cm_be32(p + 12);
    out->flag = (int32_t)cm_be32(p + 16);
    out->queueOffset = (int64_t)cm_be64(p + 20);
    out->physicOffset = (int64_t)cm_be64(p + 28);
    out->sysFlag = (int32_t)cm_be32(p + 36);
    out->bornTimestamp = (int64_t)cm_be64(p + 40);
    int blen = (out->sysFlag & ST_SYSFLAG_BORNHOST_V6) ? 16 : 4;
    int slen = (out->sysFlag & ST_SYSFLAG_STOREHOST_V6) ? 16 : 4;
    size_t pos = 48;
    /* fixed part up to BODYLENGTH inclusive */
    size_t fixed = pos + blen + 4 + 8 + slen + 4 + 4 + 8 + 4;
    if (fixed > end)
        return ST_ECORRUPT;
    memcpy(out->bornHost, p + pos, blen);
    out->bornPort = (int32_t)cm_be32(p + pos + blen);
    pos += blen + 4;
    out->storeTimestamp = (int64_t)cm_be64(p + pos);
    pos += 8;
    memcpy(out->storeHost, p + pos, slen);
    out->storePort = (int32_t)cm_be32(p + pos + slen);
    pos += slen + 4;
    out->reconsumeTimes = (int32_t)cm_be32(p + pos);
    out->preparedTransactionOffset = (int64_t)cm_be64(p + pos + 4);
    pos += 12;
    int32_t bodyLen = (int32_t)cm_be32(p + pos);
    pos += 4;
    if (bodyLen < 0 || (size_t)bodyLen > end - pos)
        return ST_ECORRUPT;
    out->body = p + pos;
    out->bodyLen = (uint32_t)bodyLen;
    pos += (size_t)bodyLen;
    if (pos + 1 > end)
        return ST_ECORRUPT;
    int8_t tlen = (int8_t)p[pos];
    pos += 1;
    if (tlen < 0 || (size_t)tlen > end - pos)
        return ST_ECORRUPT;
    out->topic = (const char *)p + pos;
    out->topicLen = (uint32_t)tlen;
    pos += (size_t)tlen;
    if (pos + 2 > end)
        return ST_ECORRUPT;
    int16_t plen = (int16_t)cm_be16(p + pos);
    pos += 2;
    if (plen < 0 || (size_t)plen > end - pos)
        return ST_ECORRUPT;
    out->properties = (const char *)p + pos;
    out->propertiesLen = (uint32_t)plen;
    pos += (size_t)plen;
    if (pos != end)
        return ST_ECORRUPT;
    if (checkCRC && bodyLen > 0 && cm_crc32(out->body, out->bodyLen) != out->bodyCRC)
        return ST_ECRC;
    return ST_OK;
}

int st_props_get(const char *props, size_t len, const char *name, const char **val, size_t *vlen)
{
    size_t nlen = strlen(name);
    size_t pos = 0;
    if (!props)
        return ST_ENOENT;
    while (pos < len) {
        const char *piece = props + pos;
        const char *e = memchr(piece, ST_PROP_SEP, len - pos);
        size_t plen = e ? (size_t)(e - piece) : len - pos;
        /* Java: first \x01 splits; empty name or value -> ignored */
        const char *sep = memchr(piece, ST_PROP_NAME_SEP, plen);
        if (sep && sep != piece && (size_t)(sep - piece) == nlen && memcmp(piece, name, nlen) == 0) {
            size_t vl = plen - nlen - 1;
            if (vl > 0) {
                *val = sep + 1;
                *vlen = vl;
                return ST_OK;
            }
        }
        pos += plen + 1;
    }
    return ST_ENOENT;
}

int64_t st_tags_code(const char *tag, size_t len)
{
    if (!tag || len == 0)
        return 0;
    return (int64_t)cm_java_hash(tag, len);
}

void st_batch_iter_init(st_batch_iter_t *it, const uint8_t *body, size_t len)
{
    it->p = body;
    it->len = body ? len : 0;
    it->pos = 0;
}

int st_batch_next(st_batch_iter_t *it, st_batch_entry_t *e)
{
    if (it->pos >= it->len)
        return 0;
    const uint8_t *p = it->p + it->pos;
    size_t left = it->len - it->pos;
    if (left < 22)
        goto trunc;
    int32_t total = (int32_t)cm_be32(p);
    int32_t bodyLen = (int32_t)cm_be32(p + 16);
    if (total < 22 || bodyLen < 0 || (size_t)bodyLen > (size_t)total - 22)
        goto corrupt;
    if ((size_t)total > left)
        goto trunc;
    size_t pos = 20 + (size_t)bodyLen;
    int16_t plen = (int16_t)cm_be16(p + pos);
    pos += 2;
    if (plen < 0 || pos + (size_t)plen != (size_t)total)
        goto corrupt;
    e->flag = (int32_t)cm_be32(p + 12);
    e->body = p + 20;
    e->bodyLen = (uint32_t)bodyLen;
    e->properties = (const char *)p + pos;
    e->propertiesLen = (uint32_t)plen;
    it->pos += (size_t)total;
    return 1;
corrupt:
    it->pos = it->len;
    return ST_ECORRUPT;
trunc:
    it->pos = it->len;
    return ST_ETRUNC;
}

void st_msg_id_encode(uint32_t ip, int32_t port, int64_t phyOffset, char out[ST_MSG_ID_LEN + 1])
{
    static const char hex[] = "0123456789ABCDEF";
    uint8_t b[16];
    cm_wbe32(b, ip);
    cm_wbe32(b + 4, (uint32_t)port);
    cm_wbe64(b + 8, (uint64_t)phyOffset);
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[ST_MSG_ID_LEN] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int st_msg_id_decode(const char *id, size_t len, uint32_t *ip, int32_t *port, int64_t *phyOffset)
{
    uint8_t b[16];
    if (!id || len != ST_MSG_ID_LEN)
        return ST_EINVAL;
    for (int i = 0; i < 16; i++) {
        int hi = hexval(id[2 * i]), lo = hexval(id[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ST_EINVAL;
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    if (ip)
        *ip = cm_be32(b);
    if (port)
        *port = (int32_t)cm_be32(b + 4);
    if (phyOffset)
        *phyOffset = (int64_t)cm_be64(b + 8);
    return ST_OK;
}
