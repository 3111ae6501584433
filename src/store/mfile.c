/* mfile.c: fixed-size memory-mapped files named by their 20-digit start offset, the arrays
 * that index them by file number, and directory helpers. Used by the commit log and the
 * consume queues. Commit-log files are fully allocated at creation (fallocate) so that a write
 * through the mapping cannot fault on a full disk; consume-queue files are created sparse
 * (ST_MFILE_SPARSE) and reserved a step at a time ahead of the writer (cq.c, cqalloc.c), so a
 * queue that is written little costs little disk. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_int.h"

int st_mfile_open(const char *dir, int64_t start, uint64_t size, int create, st_mfile_t **out)
{
    char path[4096];
    struct stat sb;
    st_mfile_t *f = NULL;
    int fd = -1, rc = ST_EIO;
    void *base;

    snprintf(path, sizeof(path), "%s/%020lld", dir, (long long)start);
    int creating = create == 1 || create == ST_MFILE_SPARSE;
    fd = open(path, O_RDWR | O_CLOEXEC | (creating ? O_CREAT : 0), 0644);
    if (fd < 0) {
        LOG_E(ST_MOD, "open %s: %s", path, strerror(errno));
        if (errno == ENOSPC || errno == EDQUOT)
            rc = ST_EDISKFULL;
        else if (errno == EMFILE || errno == ENFILE)
            rc = ST_ENOFILES; /* say so: "i/o error" sent operators to look at their disks */
        goto err;
    }
    if (fstat(fd, &sb) != 0)
        goto err;
    if (creating && sb.st_size == 0) {
        if (ftruncate(fd, (off_t)size) != 0) {
            LOG_E(ST_MOD, "ftruncate %s: %s", path, strerror(errno));
            goto err;
        }
        /* reserve the blocks; tmpfs and ext4 support it, otherwise stay sparse */
        if (create == 1 && fallocate(fd, 0, 0, (off_t)size) != 0 && errno != EOPNOTSUPP && errno != ENOSYS) {
            LOG_E(ST_MOD, "fallocate %s: %s", path, strerror(errno));
            if (errno == ENOSPC || errno == EDQUOT)
                rc = ST_EDISKFULL;
            unlink(path);
            goto err;
        }
    } else if (create == ST_MFILE_GROW && (uint64_t)sb.st_size < size) {
        /* a truncated last file (a copy cut short, a full disk in another tool): give it back
         * its size with zeros; recovery then ends the data at the last valid record */
        LOG_W(ST_MOD, "%s: size %lld, expected %llu; extending with zeros", path,
              (long long)sb.st_size, (unsigned long long)size);
        if (ftruncate(fd, (off_t)size) != 0) {
            LOG_E(ST_MOD, "ftruncate %s: %s", path, strerror(errno));
            goto err;
        }
        if (fallocate(fd, 0, 0, (off_t)size) != 0 && errno != EOPNOTSUPP && errno != ENOSYS) {
            rc = errno == ENOSPC ? ST_EDISKFULL : ST_EIO;
            goto err;
        }
    } else if ((uint64_t)sb.st_size != size) {
        LOG_E(ST_MOD, "%s: size %lld, expected %llu", path, (long long)sb.st_size,
              (unsigned long long)size);
        rc = ST_ECORRUPT;
        goto err;
    }
    base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        LOG_E(ST_MOD, "mmap %s: %s", path, strerror(errno));
        goto err;
    }
    f = calloc(1, sizeof(*f));
    if (!f || !(f->path = strdup(path))) {
        munmap(base, size);
        rc = ST_ENOMEM;
        goto err;
    }
    f->start = start;
    f->size = size;
    f->base = base;
    f->fd = fd;
    /* what a write through the mapping may touch without a fault that allocates a block: a
     * sparse or existing file is not known to be reserved (consume queues reserve as they go) */
    atomic_store(&f->reserved, create == 1 ? (int64_t)size : 0);
    *out = f;
    return ST_OK;
err:
    if (f)
        free(f);
    if (fd >= 0)
        close(fd);
    return rc;
}

void st_mfile_close(st_mfile_t *f)
{
    if (!f)
        return;
    munmap(f->base, f->size);
    close(f->fd);
    free(f->path);
    free(f);
}

int st_mfile_sync(st_mfile_t *f, uint64_t from, uint64_t to)
{
    static long pg;
    if (!pg)
        pg = sysconf(_SC_PAGESIZE);
    if (to > f->size)
        to = f->size;
    if (from >= to)
        return ST_OK;
    uint64_t a = from - from % (uint64_t)pg;
    if (msync(f->base + a, to - a, MS_SYNC) != 0) {
        LOG_E(ST_MOD, "msync %s: %s", f->path, strerror(errno));
        return ST_EIO;
    }
    return ST_OK;
}

/* With SYNC_FLUSH the commit-log file being written gets MADV_RANDOM: without it the kernel
 * caches its pages in large folios (up to 2 MiB, built by fault-around and readahead), and
 * writeback writes a folio whole, so each group-commit msync of a few KiB wrote a whole MiB.
 * Measured on ext4 at 10,000 msg/s: 1 MiB per msync, p99 send 22 ms; with the advice 4-8 KiB
 * per msync, p99 12-15 ms. Not with ASYNC_FLUSH: there every byte is written once anyway, and
 * page-sized folios cost a TLB shootdown per page in writeback (saturated sends fell from 131k
 * to 75k msg/s). Once the writer has moved on, the file is read sequentially by catching-up
 * consumers, so it gets its readahead back. */
void st_mfile_advise_writing(st_mfile_t *f, int writing)
{
    if (f)
        madvise(f->base, f->size, writing ? MADV_RANDOM : MADV_NORMAL);
}

void st_mfile_zero_tail(st_mfile_t *f, uint64_t from)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (from >= f->size)
        return;
    uint64_t a = (from + (uint64_t)pg - 1) / (uint64_t)pg * (uint64_t)pg;
    if (a > f->size)
        a = f->size;
    memset(f->base + from, 0, a - from);
    if (a < f->size) {
        /* zero the page-aligned rest without touching every page of a 1 GiB file */
        if (fallocate(f->fd, FALLOC_FL_ZERO_RANGE, (off_t)a, (off_t)(f->size - a)) != 0)
            memset(f->base + a, 0, f->size - a);
    }
    st_mfile_sync(f, from, f->size);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int st_list_numbered(const char *dir, int64_t **out, size_t *n)
{
    DIR *d = opendir(dir);
    int64_t *v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *e;

    *out = NULL;
    *n = 0;
    if (!d)
        return errno == ENOENT ? ST_OK : ST_EIO;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l != 20 || strspn(e->d_name, "0123456789") != 20)
            continue;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            int64_t *nv = realloc(v, nc * sizeof(*v));
            if (!nv) {
                free(v);
                closedir(d);
                return ST_ENOMEM;
            }
            v = nv;
            cap = nc;
        }
        v[cnt++] = strtoll(e->d_name, NULL, 10);
    }
    closedir(d);
    if (cnt)
        qsort(v, cnt, sizeof(*v), cmp_i64);
    *out = v;
    *n = cnt;
    return ST_OK;
}

st_mfile_t *st_mfiles_get(const st_mfiles_t *fs, int64_t no)
{
    if (fs->n == 0 || no < fs->firstNo || no >= fs->firstNo + (int64_t)fs->n)
        return NULL;
    return fs->v[no - fs->firstNo];
}

int st_mfiles_set(st_mfiles_t *fs, int64_t no, st_mfile_t *f)
{
    if (fs->n == 0) {
        fs->firstNo = no;
    } else if (no < fs->firstNo) {
        size_t shift = (size_t)(fs->firstNo - no);
        if (fs->n + shift > fs->cap) {
            size_t nc = (fs->n + shift) * 2;
            st_mfile_t **nv = realloc(fs->v, nc * sizeof(*nv));
            if (!nv)
                return ST_ENOMEM;
            fs->v = nv;
            fs->cap = nc;
        }
        memmove(fs->v + shift, fs->v, fs->n * sizeof(*fs->v));
        memset(fs->v, 0, shift * sizeof(*fs->v));
        fs->n += shift;
        fs->firstNo = no;
    }
    size_t idx = (size_t)(no - fs->firstNo);
    if (idx >= fs->cap) {
        size_t nc = fs->cap ? fs->cap * 2 : 8;
        while (nc <= idx)
            nc *= 2;
        st_mfile_t **nv = realloc(fs->v, nc * sizeof(*nv));
        if (!nv)
            return ST_ENOMEM;
        fs->v = nv;
        fs->cap = nc;
    }
    while (fs->n <= idx)
        fs->v[fs->n++] = NULL;
    fs->v[idx] = f;
    return ST_OK;
}

void st_mfiles_free(st_mfiles_t *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        st_mfile_close(fs->v[i]);
    free(fs->v);
    memset(fs, 0, sizeof(*fs));
}

void st_grave_add(st_store_t *st, st_mfile_t *f)
{
    unlink(f->path);
    if (st->ngrave == st->gravecap) {
        size_t nc = st->gravecap ? st->gravecap * 2 : 16;
        st_mfile_t **nv = realloc(st->grave, nc * sizeof(*nv));
        if (nv)
            st->grave = nv;
        uint64_t *na = nv ? realloc(st->graveAt, nc * sizeof(*na)) : NULL;
        if (!nv || !na) {
            /* cannot keep it: the flush thread might still hold it on the dirty list, so leak
             * the mapping rather than unmap under it */
            LOG_W(ST_MOD, "out of memory, leaking mapping of %s", f->path);
            return;
        }
        st->graveAt = na;
        st->gravecap = nc;
    }
    st->graveAt[st->ngrave] = cm_mono_ms();
    st->grave[st->ngrave++] = f;
}

void st_grave_reap(st_store_t *st, uint64_t graceMs)
{
    uint64_t now = cm_mono_ms();
    size_t j = 0;
    for (size_t i = 0; i < st->ngrave; i++) {
        st_mfile_t *f = st->grave[i];
        if (now - st->graveAt[i] >= graceMs && !atomic_load(&f->dirty)) {
            st_mfile_close(f); /* the disk space comes back only now */
            continue;
        }
        st->grave[j] = f;
        st->graveAt[j++] = st->graveAt[i];
    }
    st->ngrave = j;
}

static int rm_rf_at(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return unlinkat(dfd, name, 0) == 0 || errno == ENOENT ? 0 : -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        rm_rf_at(dirfd(d), e->d_name);
    }
    closedir(d);
    return unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

int st_rm_rf(const char *path)
{
    return rm_rf_at(AT_FDCWD, path) == 0 ? ST_OK : ST_EIO;
}

st_mfile_t *st_mfiles_drop_first(st_mfiles_t *fs)
{
    if (fs->n == 0)
        return NULL;
    st_mfile_t *f = fs->v[0];
    memmove(fs->v, fs->v + 1, (fs->n - 1) * sizeof(*fs->v));
    fs->n--;
    fs->firstNo++;
    return f;
}
