import { nonPublicReason } from './address-policy';
import { redactUrl } from './image-errors';

// Loading through these rules (roots, symlinks, redirects, DNS answers) is tested in image-intake.test.ts.
describe('address policy', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['0.0.0.0', 'this-network'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved/broadcast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fe80::1%eth0', 'link-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['2002:c0a8:0101::1', 'private'],
  ])('%s is %s', (ip, why) => {
    expect(nonPublicReason(ip)).toBe(why);
  });

  it.each(['8.8.8.8', '172.32.0.1', '100.128.0.1', '93.184.216.34', '2606:4700::1111', '::ffff:8.8.8.8', '2001:4860:4860::8888'])('%s is public', (ip) => {
    expect(nonPublicReason(ip)).toBeNull();
  });

  it('redacts userinfo, query and fragment from URLs', () => {
    expect(redactUrl('https://u:p@host.example:8443/a/b.png?token=x#frag')).toBe('https://host.example:8443/a/b.png?…');
  });
});
