# forkftp in a container: statically linked binaries on an empty image.
#
#   make docker-image     # = make static, then: DOCKER_BUILDKIT=0 docker build -t forkftp .
#   docker run -d -p 2121:2121 -v ftp-data:/srv/ftp forkftp
#
# No base image to pull: `make static` builds ftpserver, ftpmaster and
# ftpclient as static-pie executables (glibc linked in) and stages them
# with the few directories the image needs in target/docker/. The image
# holds nothing else: no shell, no libc, no package manager.
FROM scratch

# Root-owned: the binaries, and the account names for --run-as.
COPY target/docker/bin/ /usr/local/bin/
COPY target/docker/etc/ /etc/

# Owned by the user everything runs as: the served root (a new volume
# mounted there starts with this content and owner) and the clients'
# working directory.
COPY --chown=65534:65534 target/docker/writable/ /

ENV PATH=/usr/local/bin
# Never root: the server need not drop privileges, and a worker cannot
# write anything but the served root and /home/ftp.
USER 65534:65534
WORKDIR /home/ftp
EXPOSE 2121

# Anonymous read-only on /srv/ftp; add --write, --users FILE, ... as needed.
CMD ["ftpserver", "--listen", "0.0.0.0:2121", "--root", "/srv/ftp"]
