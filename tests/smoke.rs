//! The first thing a new user tries: connect, log in, list, download, quit.

use crate::util::Server;

#[test]
fn anonymous_user_lists_and_downloads_a_file() {
    let s = Server::start(&[]);
    let mut f = s.anon();
    assert!(f.listing("LIST").contains("hello.txt"));
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
    assert_eq!(f.code("QUIT"), 221);
}
