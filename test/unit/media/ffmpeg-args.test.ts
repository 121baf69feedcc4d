import { UsageError } from '../../../src/errors';
import {
  buildDecodeArgs,
  buildEncodeArgs,
  buildProbeArgs,
  outputFormatFor,
  type EncodeArgsOptions,
  type OutputFormat,
} from '../../../src/media/ffmpeg-args';

const RAW_INPUT = ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '64x48', '-framerate', '10', '-i', 'pipe:0'];

describe('buildProbeArgs', () => {
  it('asks ffprobe for the first video stream as JSON', () => {
    expect(buildProbeArgs('/v/in.mp4')).toEqual([
      '-v', 'error', '-select_streams', 'v:0',
      '-show_entries', 'stream=codec_name,width,height,r_frame_rate,nb_frames,duration:format=format_name,duration',
      '-of', 'json', '/v/in.mp4',
    ]);
  });
});

describe('buildDecodeArgs', () => {
  const head = ['-v', 'error', '-nostdin', '-i', '/v/in.mp4', '-map', '0:v:0'];
  const tail = ['-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  it.each<[string, Parameters<typeof buildDecodeArgs>[1], string[]]>([
    ['size only', { width: 256, height: 256 }, ['-vf', 'scale=256:256', '-vsync', 'passthrough']],
    ['fps', { width: 64, height: 48, fps: 10 }, ['-vf', 'fps=10,scale=64:48', '-vsync', 'passthrough']],
    ['maxFrames', { width: 64, height: 48, maxFrames: 8 }, ['-vf', 'scale=64:48', '-vsync', 'passthrough', '-frames:v', '8']],
    ['fractional fps', { width: 8, height: 8, fps: 12.5, maxFrames: 1 }, ['-vf', 'fps=12.5,scale=8:8', '-vsync', 'passthrough', '-frames:v', '1']],
  ])('%s', (_name, options, middle) => {
    expect(buildDecodeArgs('/v/in.mp4', options)).toEqual([...head, ...middle, ...tail]);
  });
});

describe('buildEncodeArgs', () => {
  it.each<[EncodeArgsOptions['format'], string[]]>([
    ['mp4', ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-crf', '18', '-movflags', '+faststart', '-f', 'mp4', '/o/x.mp4']],
    ['webm', ['-c:v', 'libvpx-vp9', '-pix_fmt', 'yuv420p', '-crf', '24', '-b:v', '0', '-f', 'webm', '/o/x.mp4']],
    ['gif', ['-vf', 'split[a][b];[a]palettegen[p];[b][p]paletteuse', '-loop', '0', '-f', 'gif', '/o/x.mp4']],
  ])('%s', (format, output) => {
    expect(buildEncodeArgs('/o/x.mp4', { width: 64, height: 48, fps: 10, format })).toEqual([...RAW_INPUT, ...output]);
  });

  it('passes a fractional frame rate through', () => {
    const args = buildEncodeArgs('o.gif', { width: 64, height: 48, fps: 29.97, format: 'gif' });
    expect(args.slice(args.indexOf('-framerate'), args.indexOf('-framerate') + 2)).toEqual(['-framerate', '29.97']);
  });
});

describe('outputFormatFor', () => {
  it.each<[string, OutputFormat]>([
    ['out.mp4', 'mp4'],
    ['dir/OUT.MP4', 'mp4'],
    ['a.b/clip.webm', 'webm'],
    ['loop.gif', 'gif'],
    ['frames/', 'png'],
    ['frames.v2/', 'png'],
    ['frames', 'png'],
    ['/tmp/run-1/frames', 'png'],
  ])('%s → %s', (path, format) => {
    expect(outputFormatFor(path)).toBe(format);
  });

  it.each(['out.avi', 'out.png', 'x.mp4.tmp'])('rejects %s, listing the valid extensions', (path) => {
    expect(() => outputFormatFor(path)).toThrow(UsageError);
    expect(() => outputFormatFor(path)).toThrow(/\.mp4, \.webm, \.gif, or a directory/);
  });
});
