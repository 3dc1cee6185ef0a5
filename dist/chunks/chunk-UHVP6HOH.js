import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{c as l,e as p}from"./chunk-T7SMTCDA.js";import{e as u}from"./chunk-67BG23Y2.js";var d=u(l(),1);function B(g,n,c=[]){let r=`----trusted-publish-${(0,d.randomBytes)(16).toString("hex")}`,e=t=>`"${t.replace(/"/g,"%22").replace(/\r/g,"%0D").replace(/\n/g,"%0A")}"`,i=t=>t.map(([o,f,m])=>`--${r}\r
Content-Disposition: form-data; name=${e(o)}\r
${m?`Content-Type: ${m}\r
`:""}\r
${f}\r
`).join(""),$=Object.entries(n.headers??{}).map(([t,o])=>`${t}: ${o}\r
`).join(""),s=Buffer.from(`${i(g)}--${r}\r
Content-Disposition: form-data; name=${e(n.field)}; filename=${e(n.filename)}\r
Content-Type: ${n.contentType}\r
${$}\r
`),a=Buffer.from(`\r
${i(c)}--${r}--\r
`);async function*y(){yield s,yield*p(n.path),yield a}return{length:s.length+n.size+a.length,data:y(),contentType:`multipart/form-data; boundary=${r}`}}export{B as a};
