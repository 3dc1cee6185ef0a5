import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as u}from"./chunk-YS755RYC.js";import{c as a}from"./chunk-IFM3OA34.js";import{e as f}from"./chunk-67BG23Y2.js";var s=f(u(),1);function l(m,t){let n=`----trusted-publish-${(0,s.randomBytes)(16).toString("hex")}`,r=e=>`"${e.replace(/"/g,"%22").replace(/\r/g,"%0D").replace(/\n/g,"%0A")}"`,p=m.map(([e,y])=>`--${n}\r
Content-Disposition: form-data; name=${r(e)}\r
\r
${y}\r
`),o=Buffer.from(`${p.join("")}--${n}\r
Content-Disposition: form-data; name=${r(t.field)}; filename=${r(t.filename)}\r
Content-Type: ${t.contentType}\r
\r
`),i=Buffer.from(`\r
--${n}--\r
`);async function*d(){yield o,yield*a(t.path),yield i}return{length:o.length+t.size+i.length,data:d(),contentType:`multipart/form-data; boundary=${n}`}}export{l as a};
